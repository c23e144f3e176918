/* cmd_validate.c - `idp validate [DIR|FILE...]`: parse and check without evaluating. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include "../compiler/diag.h"
#include "../compiler/util.h"
#include "../compiler/validate.h"
#include "../grammar/parse.h"
#include "cli.h"

int idp_cmd_validate(int argc, char **argv) {
  static const char *const flags[] = {"help"}; /* -help is handled by main */
  char **args = argv + 1;
  size_t nargs = 0;
  for (int i = 1; i < argc; i++) {
    const char *f = idp_flag_name(argv[i]);
    if (!f) {
      args[nargs++] = argv[i];
      continue;
    }
    idp_unknown_flag("validate", argv[i], flags, 1);
    return IDP_EXIT_USAGE;
  }
  char **paths;
  size_t npaths;
  if (idp_collect_files(args, nargs, &paths, &npaths) < 0) return IDP_EXIT_ERROR;
  if (npaths == 0) {
    fprintf(stderr, "idp validate: error: no .idp files in %s\n", nargs ? args[0] : ".");
    idp_free_files(paths, npaths);
    return IDP_EXIT_ERROR;
  }
  idp_diags diags;
  idp_diags_init(&diags);
  idp_arena arena;
  idp_arena_init(&arena);
  idp_source **srcs = idp_xcalloc(npaths, sizeof *srcs);
  idp_file **files = idp_xcalloc(npaths, sizeof *files);
  size_t nfiles = 0, nblocks = 0;
  int rc = IDP_EXIT_OK;
  for (size_t i = 0; i < npaths; i++) {
    idp_source *src = idp_source_load(paths[i]);
    if (!src) {
      fprintf(stderr, "idp validate: error: %s: %s\n", paths[i], strerror(errno));
      rc = IDP_EXIT_ERROR;
      continue;
    }
    srcs[nfiles] = src;
    idp_parse(src, &arena, &diags, &files[nfiles]);
    nblocks += files[nfiles]->body.n;
    nfiles++;
  }
  idp_validate(files, nfiles, &diags);
  idp_diags_print(&diags, stderr);
  if (diags.errors) {
    fprintf(stderr, "%u error%s\n", diags.errors, diags.errors == 1 ? "" : "s");
    rc = IDP_EXIT_ERROR;
  } else if (rc == IDP_EXIT_OK) {
    printf("%zu file%s, %zu block%s: valid\n", nfiles, nfiles == 1 ? "" : "s", nblocks,
           nblocks == 1 ? "" : "s");
  }
  idp_diags_free(&diags);
  idp_arena_free(&arena);
  for (size_t i = 0; i < nfiles; i++) idp_source_free(srcs[i]);
  free(srcs);
  free(files);
  idp_free_files(paths, npaths);
  return rc;
}
