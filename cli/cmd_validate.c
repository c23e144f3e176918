/* cmd_validate.c - `idp validate [DIR|FILE...]`: parse and check without evaluating. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include "../compiler/diag.h"
#include "../compiler/spec.h"
#include "../compiler/util.h"
#include "../compiler/validate.h"
#include "../grammar/parse.h"
#include "../runtime/drivers/driver.h"
#include "cli.h"

/* Each top-level block is checked as soon as it is parsed, then dropped: memory stays bounded
 * by the largest block, whatever the size of the spec. */
typedef struct stream_ctx {
  idp_validator *v;
  idp_spec *spec;         /* the model the checks across blocks use */
  idp_diags *diags;
  idp_source *src;        /* the file being parsed */
  unsigned file_errors;   /* diags->errors when the file started */
  unsigned check_errors;  /* errors the checks found in it so far */
  unsigned syntax_seen;   /* syntax errors in it so far */
  bool suspect;           /* since the last syntax error, no block has started cleanly */
  uint32_t error_off;     /* where that error was */
  size_t nblocks;
} stream_ctx;

/* After a syntax error, what the parser makes of the text that follows (lines read as attributes
 * of the top level, say) would only bring errors that are not the user's. So blocks after it are
 * not checked until one starts cleanly: a block at column 1. */
static void on_item(idp_item *item, void *payload) {
  stream_ctx *ctx = payload;
  idp_diags *d = ctx->diags;
  ctx->nblocks++;
  unsigned syntax = d->errors - ctx->file_errors - ctx->check_errors;
  if (syntax > ctx->syntax_seen) {
    ctx->syntax_seen = syntax;
    ctx->suspect = true;
    ctx->error_off = d->last_error != (size_t)-1 ? d->v[d->last_error].loc.start : 0;
  }
  if (ctx->suspect && item->loc.start > ctx->error_off) {
    bool clean = item->kind == IDP_ITEM_BLOCK && (item->loc.start == 0 || ctx->src->text[item->loc.start - 1] == '\n');
    if (!clean) return;
    ctx->suspect = false;
  }
  unsigned before = d->errors;
  idp_validator_item(ctx->v, ctx->src, item);
  idp_spec_item(ctx->spec, ctx->src, item);
  ctx->check_errors += ctx->diags->errors - before;
}

int idp_load_spec(const char *cmd, char *const *args, size_t nargs, idp_loaded *L) {
  memset(L, 0, sizeof *L);
  idp_diags_init(&L->diags);
  idp_arena_init(&L->arena);
  L->spec = idp_spec_new();
  if (idp_collect_files(cmd, args, nargs, &L->paths, &L->npaths) < 0) return IDP_EXIT_ERROR;
  if (L->npaths == 0) {
    fprintf(stderr, "idp %s: error: no .idp files in %s\n", cmd, nargs ? args[0] : ".");
    return IDP_EXIT_ERROR;
  }
  /* Sources stay loaded until the diagnostics are printed: they quote their lines. */
  L->srcs = idp_xcalloc(L->npaths, sizeof *L->srcs);
  stream_ctx ctx = {idp_validator_new(&L->diags), L->spec, &L->diags, NULL, 0, 0, 0, false, 0, 0};
  idp_validator_set_hook(ctx.v, idp_driver_check_block); /* resource and integration attributes */
  int rc = IDP_EXIT_OK;
  for (size_t i = 0; i < L->npaths; i++) {
    idp_source *src = idp_source_load(L->paths[i]);
    if (!src) {
      fprintf(stderr, "idp %s: error: %s: %s\n", cmd, L->paths[i], strerror(errno));
      rc = IDP_EXIT_ERROR;
      continue;
    }
    L->srcs[L->nfiles++] = src;
    ctx.src = src;
    ctx.file_errors = L->diags.errors;
    ctx.check_errors = 0;
    ctx.syntax_seen = 0;
    ctx.suspect = false;
    idp_parse_stream(src, &L->arena, &L->diags, on_item, &ctx);
    L->syntax_errors += L->diags.errors - ctx.file_errors - ctx.check_errors;
  }
  idp_validator_free(ctx.v);
  L->nblocks = ctx.nblocks;
  return rc;
}

void idp_unload_spec(idp_loaded *L) {
  idp_diags_free(&L->diags);
  idp_arena_free(&L->arena);
  for (size_t i = 0; i < L->nfiles; i++) idp_source_free(L->srcs[i]);
  free(L->srcs);
  idp_free_files(L->paths, L->npaths);
  idp_spec_free(L->spec);
}

int idp_cmd_validate(int argc, char **argv) {
  static const char *const flags[] = {"help"}; /* -help is handled by main */
  char **args = argv + 1;
  size_t nargs = 0;
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
    idp_unknown_flag("validate", argv[i], flags, 1);
    return IDP_EXIT_USAGE;
  }
  idp_loaded L;
  int rc = idp_load_spec("validate", args, nargs, &L);
  if (L.npaths == 0) {
    idp_unload_spec(&L);
    return IDP_EXIT_ERROR;
  }
  /* The checks across blocks, over all files. After a syntax error they are left out: the text
   * that did not parse may hold the very declaration they would find missing. */
  if (L.syntax_errors == 0) idp_spec_check(L.spec, &L.diags);
  size_t nfiles = L.nfiles, nblocks = L.nblocks;
  idp_diags_print(&L.diags, stderr);
  if (L.diags.errors) {
    fprintf(stderr, "%u error%s\n", L.diags.errors, L.diags.errors == 1 ? "" : "s");
    rc = IDP_EXIT_ERROR;
  } else if (rc == IDP_EXIT_OK) {
    printf("%zu file%s, %zu block%s: valid\n", nfiles, nfiles == 1 ? "" : "s", nblocks,
           nblocks == 1 ? "" : "s");
  }
  idp_unload_spec(&L);
  return rc;
}
