/* cmd_graph.c - `idp graph [DIR] [-env NAME[:TYPE]]... [-var NAME=VALUE]...`: the resource instances
 * of a run and their dependencies, as DOT. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../compiler/util.h"
#include "cli.h"

static int graph(char **args, size_t nargs, const idp_env_sel *sel, size_t nsel, const idp_flag_list *vars) {
  idp_spec_graph R;
  int rc = idp_spec_graph_build("graph", args, nargs, sel, nsel, false, vars->v, vars->n, &R);
  if (rc == IDP_EXIT_OK) idp_graph_dot(R.g, stdout);
  idp_spec_graph_free(&R);
  return rc;
}

int idp_cmd_graph(int argc, char **argv) {
  idp_env_list envs = {0};
  idp_flag_list vars = {0};
  const idp_flag flags[] = {{"env", IDP_FLAG_ENV, &envs}, {"var", IDP_FLAG_LIST, &vars}};
  size_t nflags = sizeof flags / sizeof *flags, nargs;
  char **args;
  int rc = IDP_EXIT_USAGE;
  if (idp_parse_flags("graph", argc, argv, flags, nflags, &args, &nargs) == 0) {
    if (nargs > 1) fprintf(stderr, "idp graph: error: one spec directory at a time ('%s', then '%s')\n", args[0], args[1]);
    else rc = graph(args, nargs, envs.v, envs.n, &vars);
  }
  idp_flags_free(flags, nflags, args);
  return rc;
}
