/* fuzz_parser.c - libFuzzer entry point for the front end. Built with clang -fsanitize=fuzzer by
 * `make fuzz`, and linked with replay.c into fuzz_replay so that the corpus runs as a regression
 * test under gcc too.
 *
 * Each input goes through the raw scanner (idp_scan_only), then is checked twice the way
 * `idp validate` checks it (the validator with the drivers' attribute hook, the spec model, and
 * the checks across blocks when there was no syntax error): once over the whole tree from
 * idp_parse, once over the streamed parse the CLI uses, where each top-level item is dropped as
 * soon as it is checked. The diagnostics are printed to /dev/null (the printing code is fuzzed
 * too), and both runs must report errors on the same lines: a difference means that dropping the
 * streamed items lost or changed something, and aborts.
 *
 * A file that parses without errors is also formatted (idp_fmt_file), and the result must parse
 * without errors with as many comments and top-level items, and format to itself (what
 * `idp fmt -check` relies on); otherwise the harness aborts.
 *
 * A form feed byte splits the input into two files of one spec, so that checks across files
 * (duplicates declared in another file, diagnostics sorted by file) are fuzzed as well. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../compiler/arena.h"
#include "../../compiler/diag.h"
#include "../../compiler/fmt.h"
#include "../../compiler/source.h"
#include "../../compiler/spec.h"
#include "../../compiler/util.h"
#include "../../compiler/validate.h"
#include "../../grammar/parse.h"
#include "../../runtime/drivers/driver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_INPUT = 1 << 20 }; /* larger inputs only slow the fuzzer down */

/* Diagnostics are printed into a sink opened once. */
static FILE *sink(void) {
  static FILE *out;
  if (!out) out = fopen("/dev/null", "w");
  return out;
}

static void print_diags(idp_diags *d) {
  FILE *out = sink();
  if (!out) return;
  idp_diags_print(d, out);
  fflush(out);
}

/* --- comparing two runs ---------------------------------------------------------------------
 * Errors are reported in another order by the two runs (the stream interleaves syntax errors and
 * check errors), and diag.c keeps one error per line, the first that came; so which message a line
 * gets may differ, but the lines that get an error must not. */
typedef struct {
  const char *path;
  unsigned line;
} eline;

static int cmp_eline(const void *pa, const void *pb) {
  const eline *a = pa, *b = pb;
  int c = strcmp(a->path, b->path);
  if (c) return c;
  return a->line < b->line ? -1 : a->line > b->line;
}

/* The distinct (file, line) places of the errors kept, sorted; returns how many. */
static size_t error_lines(const idp_diags *d, eline **out) {
  eline *r = malloc((d->n ? d->n : 1) * sizeof *r);
  if (!r) abort();
  size_t n = 0;
  for (size_t i = 0; i < d->n; i++) {
    const idp_diag *g = &d->v[i];
    if (g->sev != IDP_SEV_ERROR) continue;
    unsigned line = 0, col = 0;
    if (g->src) idp_source_linecol(g->src, g->loc.start, &line, &col);
    r[n].path = g->src ? g->src->path : "";
    r[n++].line = line;
  }
  qsort(r, n, sizeof *r, cmp_eline);
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (k == 0 || cmp_eline(&r[k - 1], &r[i]) != 0) r[k++] = r[i];
  *out = r;
  return k;
}

static void same_error_lines(const idp_diags *tree, const idp_diags *stream) {
  /* Past IDP_DIAG_MAX, which errors are kept depends on the order they came in. */
  if (tree->dropped || stream->dropped) return;
  eline *a, *b;
  size_t na = error_lines(tree, &a), nb = error_lines(stream, &b);
  size_t i = 0;
  while (i < na && i < nb && cmp_eline(&a[i], &b[i]) == 0) i++;
  if (i < na || i < nb) {
    fprintf(stderr, "fuzz_parser: the tree and stream runs report errors on different lines\n");
    if (i < na) fprintf(stderr, "  tree has %s:%u\n", a[i].path, a[i].line);
    if (i < nb) fprintf(stderr, "  stream has %s:%u\n", b[i].path, b[i].line);
    abort();
  }
  free(a);
  free(b);
}

/* --- the three runs ---------------------------------------------------------------------------- */
static void run_scan(idp_source *src) {
  idp_arena arena;
  idp_arena_init(&arena);
  idp_diags diags;
  idp_diags_init(&diags);
  idp_scan_only(src, &arena, &diags);
  idp_diags_free(&diags);
  idp_arena_free(&arena);
}

/* The checks of `idp validate`, fed one top-level item at a time. */
typedef struct {
  idp_validator *v;
  idp_spec *spec;
  idp_diags *diags;
  idp_source *src;
  unsigned check_errors; /* errors the checks reported (the others are syntax errors) */
} checker;

static void checker_init(checker *c, idp_diags *diags) {
  c->v = idp_validator_new(diags);
  idp_validator_set_hook(c->v, idp_driver_check_block);
  c->spec = idp_spec_new();
  c->diags = diags;
  c->src = NULL;
  c->check_errors = 0;
}

static void on_item(idp_item *item, void *payload) {
  checker *c = payload;
  unsigned before = c->diags->errors;
  idp_validator_item(c->v, c->src, item);
  idp_spec_item(c->spec, c->src, item);
  c->check_errors += c->diags->errors - before;
}

/* The checks across blocks, left out after a syntax error as the CLI does. */
static void checker_done(checker *c, unsigned errors_before) {
  unsigned syntax = c->diags->errors - errors_before - c->check_errors;
  if (syntax == 0) idp_spec_check(c->spec, c->diags);
  idp_validator_free(c->v);
  idp_spec_free(c->spec);
}

static void run_tree(idp_source **src, size_t nsrc, idp_diags *diags) {
  idp_arena arena;
  idp_arena_init(&arena);
  checker c;
  checker_init(&c, diags);
  unsigned before = diags->errors;
  idp_file *files[2] = {NULL, NULL};
  for (size_t i = 0; i < nsrc; i++) idp_parse(src[i], &arena, diags, &files[i]);
  for (size_t i = 0; i < nsrc; i++) {
    if (!files[i]) continue;
    c.src = src[i];
    for (idp_item *it = files[i]->body.first; it; it = it->next) on_item(it, &c);
  }
  checker_done(&c, before);
  print_diags(diags);
  idp_arena_free(&arena);
}

static void run_stream(idp_source **src, size_t nsrc, idp_diags *diags) {
  idp_arena arena;
  idp_arena_init(&arena);
  checker c;
  checker_init(&c, diags);
  unsigned before = diags->errors;
  for (size_t i = 0; i < nsrc; i++) {
    c.src = src[i];
    idp_parse_stream(src[i], &arena, diags, on_item, &c);
  }
  checker_done(&c, before);
  print_diags(diags);
  idp_arena_free(&arena);
}

/* --- idp fmt ---------------------------------------------------------------------------------- */
static void fmt_failed(const char *why, const idp_buf *a, const idp_buf *b) {
  fprintf(stderr, "fuzz_parser: idp fmt: %s\n", why);
  if (a) fprintf(stderr, "--- formatted once (%zu bytes):\n%.*s\n", a->len, (int)a->len, a->data ? a->data : "");
  if (b) fprintf(stderr, "--- formatted twice (%zu bytes):\n%.*s\n", b->len, (int)b->len, b->data ? b->data : "");
  abort();
}

/* Parses text; returns the file when it parsed without errors, NULL otherwise. */
static idp_file *parse_clean(idp_source *src, idp_arena *arena) {
  idp_diags diags;
  idp_diags_init(&diags);
  idp_file *f = NULL;
  unsigned errors = idp_parse(src, arena, &diags, &f);
  idp_diags_free(&diags);
  return errors ? NULL : f;
}

static void run_fmt(idp_source *src) {
  idp_arena arena;
  idp_arena_init(&arena);
  idp_file *f = parse_clean(src, &arena);
  if (!f) {
    idp_arena_free(&arena);
    return;
  }
  idp_buf once = {0}, twice = {0};
  if (idp_fmt_file(f, &once) < 0) fmt_failed("a comment could not be placed", NULL, NULL);

  idp_source *src2 = idp_source_from_string("fmt.idp", once.data ? once.data : "", once.len);
  idp_arena arena2;
  idp_arena_init(&arena2);
  idp_file *f2 = parse_clean(src2, &arena2);
  if (!f2) fmt_failed("the formatted text has syntax errors", &once, NULL);
  if (f2->ncomments != f->ncomments) fmt_failed("the formatted text lost or gained comments", &once, NULL);
  if (f2->body.n != f->body.n) fmt_failed("the formatted text has another number of items", &once, NULL);
  if (idp_fmt_file(f2, &twice) < 0) fmt_failed("a comment could not be placed the second time", &once, NULL);
  if (twice.len != once.len || (once.len && memcmp(once.data, twice.data, once.len) != 0))
    fmt_failed("formatting the formatted text changes it", &once, &twice);

  idp_buf_free(&once);
  idp_buf_free(&twice);
  idp_arena_free(&arena2);
  idp_source_free(src2);
  idp_arena_free(&arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > MAX_INPUT) return 0;
  const char *text = (const char *)data;
  const char *ff = size ? memchr(text, '\f', size) : NULL;
  size_t len1 = ff ? (size_t)(ff - text) : size;

  idp_source *src[2] = {idp_source_from_string("a.idp", text, len1), NULL};
  size_t nsrc = 1;
  if (ff) src[nsrc++] = idp_source_from_string("b.idp", ff + 1, size - len1 - 1);

  run_scan(src[0]);

  idp_diags tree, stream;
  idp_diags_init(&tree);
  idp_diags_init(&stream);
  run_tree(src, nsrc, &tree);
  run_stream(src, nsrc, &stream);
  same_error_lines(&tree, &stream);
  idp_diags_free(&tree);
  idp_diags_free(&stream);

  for (size_t i = 0; i < nsrc; i++) run_fmt(src[i]);

  for (size_t i = 0; i < nsrc; i++) idp_source_free(src[i]);
  return 0;
}
