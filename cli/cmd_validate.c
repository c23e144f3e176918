/* cmd_validate.c - `idp validate [DIR|FILE...]`: parse and check without evaluating. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>

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
  /* the `use` blocks of the file being parsed: module names (copied: items are dropped) and
   * where their labels are */
  char **uses;
  idp_loc *use_locs;
  size_t nuses;
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
  if (item->kind == IDP_ITEM_BLOCK && item->name && strcmp(item->name, "use") == 0 && item->nlabels >= 1 &&
      item->labels && item->labels->name) {
    ctx->uses = idp_xrealloc(ctx->uses, (ctx->nuses + 1) * sizeof *ctx->uses);
    ctx->use_locs = idp_xrealloc(ctx->use_locs, (ctx->nuses + 1) * sizeof *ctx->use_locs);
    ctx->uses[ctx->nuses] = idp_xstrdup(item->labels->name);
    ctx->use_locs[ctx->nuses++] = item->labels->loc;
  }
  idp_validator_item(ctx->v, ctx->src, item);
  idp_spec_item(ctx->spec, ctx->src, item);
  ctx->check_errors += ctx->diags->errors - before;
}

/* --- modules (`use "NAME"`, `use "./path"`) ------------------------------------------------ */

const char *idp_stdlib_dir(void) {
  const char *e = getenv("IDP_STDLIB");
  if (e && e[0]) return e;
#ifdef IDP_STDLIB_DIR
  return IDP_STDLIB_DIR;
#else
  return "stdlib";
#endif
}

static int cmp_cstr(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool ends_with(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a > b && strcmp(s + a - b, suf) == 0;
}

/* The stdlib's modules (its folders), sorted, as "a, b, c"; "none" when there are none. */
static char *stdlib_modules(void) {
  const char *dir = idp_stdlib_dir();
  char **v = NULL;
  size_t n = 0;
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d))) {
      if (e->d_name[0] == '.') continue;
      idp_buf p = {0};
      idp_buf_printf(&p, "%s/%s", dir, e->d_name);
      struct stat st;
      if (stat(p.data, &st) == 0 && S_ISDIR(st.st_mode)) {
        v = idp_xrealloc(v, (n + 1) * sizeof *v);
        v[n++] = idp_xstrdup(e->d_name);
      }
      free(p.data);
    }
    closedir(d);
  }
  if (n > 1) qsort(v, n, sizeof *v, cmp_cstr);
  idp_buf out = {0};
  for (size_t i = 0; i < n; i++) {
    idp_buf_printf(&out, "%s%s", i ? ", " : "", v[i]);
    free(v[i]);
  }
  free(v);
  if (!out.data) idp_buf_puts(&out, "none");
  return out.data;
}

/* path with its "." segments dropped and "SEG/.." pairs folded, lexically (diagnostics name
 * module files by it): "./mods/x/../y" is "mods/y". */
static void clean_path(char *path) {
  bool abs = path[0] == '/';
  char **seg = NULL;
  size_t n = 0;
  char *save = NULL;
  for (char *t = strtok_r(path, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
    if (strcmp(t, ".") == 0) continue;
    if (strcmp(t, "..") == 0 && n > 0 && strcmp(seg[n - 1], "..") != 0) {
      n--;
      continue;
    }
    seg = idp_xrealloc(seg, (n + 1) * sizeof *seg);
    seg[n++] = t;
  }
  idp_buf b = {0};
  if (abs) idp_buf_putc(&b, '/');
  for (size_t i = 0; i < n; i++) idp_buf_printf(&b, "%s%s", i ? "/" : "", seg[i]);
  if (!b.data || !b.data[0]) idp_buf_puts(&b, abs ? "/" : ".");
  strcpy(path, b.data); /* never longer than path */
  free(b.data);
  free(seg);
}

static bool is_local_module(const char *name) {
  return strncmp(name, "./", 2) == 0 || strncmp(name, "../", 3) == 0 || strcmp(name, ".") == 0 ||
         strcmp(name, "..") == 0 || name[0] == '/';
}

/* Adds the *.idp files of the module `name`, used by the file at `from`, to L->paths (each file
 * once: `seen` holds the real paths of the files already there). A local module is relative to
 * the folder of the file that uses it; any other name is a folder of the stdlib. */
static void add_module(idp_loaded *L, idp_source *src, const char *from, const char *name, idp_loc loc,
                       char ***seen, size_t *nseen, char ***mods, size_t *nmods) {
  idp_buf dir = {0};
  bool local = is_local_module(name);
  if (local) {
    if (name[0] == '/') {
      idp_buf_puts(&dir, name);
    } else {
      const char *slash = strrchr(from, '/');
      if (slash) idp_buf_printf(&dir, "%.*s/", (int)(slash - from), from);
      idp_buf_puts(&dir, name);
    }
    clean_path(dir.data);
  } else {
    bool ok = name[0] != '\0' && !strchr(name, '/') && name[0] != '.';
    if (ok) idp_buf_printf(&dir, "%s/%s", idp_stdlib_dir(), name);
  }
  struct stat st;
  char real[PATH_MAX];
  if (!dir.data || stat(dir.data, &st) != 0 || !S_ISDIR(st.st_mode) || !realpath(dir.data, real)) {
    if (local) {
      idp_diag_error(&L->diags, src, loc, "module \"%s\": no folder %s", name, dir.data ? dir.data : name);
      idp_diag_hint(&L->diags, "a local module is a folder of .idp files, relative to the folder of the file that uses it");
    } else {
      char *list = stdlib_modules();
      idp_diag_error(&L->diags, src, loc, "unknown module \"%s\"", name);
      idp_diag_hint(&L->diags, "the stdlib modules (in %s) are: %s; a local module is written \"./path\"",
                    idp_stdlib_dir(), list);
      free(list);
    }
    free(dir.data);
    return;
  }
  for (size_t i = 0; i < *nmods; i++)
    if (strcmp((*mods)[i], real) == 0) {
      free(dir.data);
      return; /* each module once; cycles end here */
    }
  *mods = idp_xrealloc(*mods, (*nmods + 1) * sizeof **mods);
  (*mods)[(*nmods)++] = idp_xstrdup(real);
  char **files = NULL;
  size_t nfiles = 0;
  DIR *d = opendir(dir.data);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d))) {
      if (e->d_name[0] == '.' || !ends_with(e->d_name, ".idp")) continue;
      idp_buf p = {0};
      if (strcmp(dir.data, ".") == 0) idp_buf_puts(&p, e->d_name);
      else idp_buf_printf(&p, "%s%s%s", dir.data, ends_with(dir.data, "/") ? "" : "/", e->d_name);
      files = idp_xrealloc(files, (nfiles + 1) * sizeof *files);
      files[nfiles++] = p.data;
    }
    closedir(d);
  }
  if (nfiles == 0) {
    idp_diag_error(&L->diags, src, loc, "module \"%s\": no .idp files in %s", name, dir.data);
  }
  if (nfiles > 1) qsort(files, nfiles, sizeof *files, cmp_cstr);
  for (size_t i = 0; i < nfiles; i++) {
    char fr[PATH_MAX];
    bool dup = false;
    if (realpath(files[i], fr)) {
      for (size_t j = 0; j < *nseen && !dup; j++) dup = strcmp((*seen)[j], fr) == 0;
      if (!dup) {
        *seen = idp_xrealloc(*seen, (*nseen + 1) * sizeof **seen);
        (*seen)[(*nseen)++] = idp_xstrdup(fr);
      }
    }
    if (dup) {
      free(files[i]);
      continue;
    }
    L->paths = idp_xrealloc(L->paths, (L->npaths + 1) * sizeof *L->paths);
    L->paths[L->npaths++] = files[i];
  }
  free(files);
  free(dir.data);
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
  /* The real paths of the files read so far, and of the modules added: each file and each
   * module once, whatever uses it (cycles are harmless). */
  char **seen = NULL, **mods = NULL;
  size_t nseen = 0, nmods = 0;
  for (size_t i = 0; i < L->npaths; i++) {
    char fr[PATH_MAX];
    if (realpath(L->paths[i], fr)) {
      seen = idp_xrealloc(seen, (nseen + 1) * sizeof *seen);
      seen[nseen++] = idp_xstrdup(fr);
    }
  }
  /* Sources stay loaded until the diagnostics are printed: they quote their lines. */
  L->srcs = idp_xcalloc(L->npaths, sizeof *L->srcs);
  stream_ctx ctx = {idp_validator_new(&L->diags), L->spec, &L->diags, NULL, 0, 0, 0, false, 0, 0, NULL, NULL, 0};
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
    ctx.nuses = 0;
    idp_parse_stream(src, &L->arena, &L->diags, on_item, &ctx);
    L->syntax_errors += L->diags.errors - ctx.file_errors - ctx.check_errors;
    /* The modules it uses: their files join the spec, read after the files given (L->paths
     * grows while this loop runs). */
    size_t before = L->npaths;
    for (size_t u = 0; u < ctx.nuses; u++) {
      add_module(L, src, L->paths[i], ctx.uses[u], ctx.use_locs[u], &seen, &nseen, &mods, &nmods);
      free(ctx.uses[u]);
    }
    if (L->npaths > before) {
      L->srcs = idp_xrealloc(L->srcs, L->npaths * sizeof *L->srcs);
      memset(L->srcs + before, 0, (L->npaths - before) * sizeof *L->srcs);
    }
  }
  for (size_t i = 0; i < nseen; i++) free(seen[i]);
  for (size_t i = 0; i < nmods; i++) free(mods[i]);
  free(seen);
  free(mods);
  free(ctx.uses);
  free(ctx.use_locs);
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
