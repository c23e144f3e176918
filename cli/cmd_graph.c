/* cmd_graph.c - `idp graph [DIR] [-env NAME[:TYPE]]...`: the resource instances of a run and their
 * dependencies, as DOT. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../compiler/util.h"
#include "cli.h"

static int graph(char **args, size_t nargs, const idp_env_sel *sel, size_t nsel) {
  idp_spec_graph R;
  int rc = idp_spec_graph_build("graph", args, nargs, sel, nsel, false, NULL, 0, &R);
  if (rc == IDP_EXIT_OK) idp_graph_dot(R.g, stdout);
  idp_spec_graph_free(&R);
  return rc;
}

int idp_cmd_graph(int argc, char **argv) {
  static const char *const flags[] = {"env", "help"};
  char **args = idp_xcalloc((size_t)argc + 1, sizeof *args);
  idp_env_sel *sel = idp_xcalloc((size_t)argc + 1, sizeof *sel);
  char **copies = idp_xcalloc((size_t)argc + 1, sizeof *copies);
  size_t nargs = 0, nsel = 0;
  int rc = IDP_EXIT_USAGE;
  bool paths_only = false;
  for (int i = 1; i < argc; i++) {
    const char *f = paths_only ? NULL : idp_flag_name(argv[i]);
    if (!f) {
      args[nargs++] = argv[i];
      continue;
    }
    if (strcmp(argv[i], "--") == 0) {
      paths_only = true;
      continue;
    }
    const char *eq = strchr(f, '=');
    size_t flen = eq ? (size_t)(eq - f) : strlen(f);
    if (flen != 3 || strncmp(f, "env", 3) != 0) {
      idp_unknown_flag("graph", argv[i], flags, 2);
      goto out;
    }
    const char *val = idp_flag_value("graph", argc, argv, &i);
    if (!val) goto out;
    if (idp_env_flag("graph", val, &copies[nsel], &sel[nsel]) < 0) {
      nsel++;
      goto out;
    }
    nsel++;
  }
  if (nargs > 1) {
    fprintf(stderr, "idp graph: error: one spec directory at a time ('%s', then '%s')\n", args[0], args[1]);
    goto out;
  }
  rc = graph(args, nargs, sel, nsel);
out:
  for (size_t i = 0; i < nsel; i++) free(copies[i]);
  free(copies);
  free(sel);
  free(args);
  return rc;
}
