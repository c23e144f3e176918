/* cmd_graph.c - `idp graph [DIR] [-env NAME[:TYPE]]...`: the resource instances of a run and their
 * dependencies, as DOT. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../compiler/instance.h"
#include "../compiler/spec.h"
#include "../compiler/util.h"
#include "../grammar/parse.h"
#include "cli.h"

static int graph(char **args, size_t nargs, const idp_env_sel *sel, size_t nsel) {
  idp_loaded L;
  int rc = idp_load_spec("graph", args, nargs, &L);
  if (L.npaths == 0) {
    idp_unload_spec(&L);
    return IDP_EXIT_ERROR;
  }
  if (L.syntax_errors == 0) idp_spec_check(L.spec, &L.diags);
  if (L.diags.errors || rc != IDP_EXIT_OK) {
    idp_diags_print(&L.diags, stderr);
    if (L.diags.errors)
      fprintf(stderr, "%u error%s: run 'idp validate' to check the spec\n", L.diags.errors,
              L.diags.errors == 1 ? "" : "s");
    idp_unload_spec(&L);
    return IDP_EXIT_ERROR;
  }
  /* The checks passed; instantiation needs the full tree of every file. */
  idp_arena arena;
  idp_arena_init(&arena);
  idp_source **srcs = idp_xcalloc(L.npaths, sizeof *srcs);
  idp_file **files = idp_xcalloc(L.npaths, sizeof *files);
  size_t nfiles = 0;
  for (size_t i = 0; i < L.npaths; i++) {
    srcs[i] = idp_source_load(L.paths[i]);
    if (!srcs[i]) {
      fprintf(stderr, "idp graph: error: %s: %s\n", L.paths[i], strerror(errno));
      rc = IDP_EXIT_ERROR;
      continue;
    }
    idp_parse(srcs[i], &arena, &L.diags, &files[nfiles++]);
  }
  const char *spec_dir = NULL;
  struct stat sb;
  if (nargs == 1 && stat(args[0], &sb) == 0 && S_ISDIR(sb.st_mode)) spec_dir = args[0];
  if (rc == IDP_EXIT_OK && !L.diags.errors) {
    idp_graph *g = idp_instantiate(files, nfiles, sel, nsel, spec_dir, &L.diags);
    if (L.diags.errors) {
      idp_diags_print(&L.diags, stderr);
      fprintf(stderr, "%u error%s\n", L.diags.errors, L.diags.errors == 1 ? "" : "s");
      rc = IDP_EXIT_ERROR;
    } else {
      idp_graph_dot(g, stdout);
    }
    idp_graph_free(g);
  } else if (L.diags.errors) {
    idp_diags_print(&L.diags, stderr);
    rc = IDP_EXIT_ERROR;
  }
  for (size_t i = 0; i < L.npaths; i++) idp_source_free(srcs[i]);
  free(srcs);
  free(files);
  idp_arena_free(&arena);
  idp_unload_spec(&L);
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
    if (!eq && i + 1 >= argc) {
      fprintf(stderr, "idp graph: error: flag '%s' needs a value\n", argv[i]);
      goto out;
    }
    const char *val = eq ? eq + 1 : argv[++i];
    char *c = copies[nsel] = idp_xstrdup(val);
    char *colon = strchr(c, ':');
    if (colon) *colon = '\0';
    if (!c[0] || (colon && !colon[1])) {
      fprintf(stderr, "idp graph: error: bad -env '%s'\nhint: write -env NAME or -env NAME:TYPE\n", val);
      nsel++;
      goto out;
    }
    sel[nsel].name = c;
    sel[nsel].type = colon ? colon + 1 : NULL;
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
