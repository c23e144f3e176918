/* support.c - the fixture and assertion helpers shared by the unit test groups. */
#include "unit.h"

#include <stdlib.h>
#include <string.h>

fx *F;

void unit_fail(const char *file, int line, const char *fmt, ...) {
  static char msg[1 << 16];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  _assert_true(0, msg, file, line);
}

int fx_setup(void **state) {
  (void)state;
  F = calloc(1, sizeof *F);
  if (!F) return -1;
  idp_arena_init(&F->arena);
  idp_diags_init(&F->diags);
  idp_diags_init(&F->diags2);
  return 0;
}

int fx_teardown(void **state) {
  (void)state;
  if (!F) return 0;
  idp_diags_free(&F->diags);
  idp_diags_free(&F->diags2);
  idp_arena_free(&F->arena);
  for (size_t i = 0; i < F->nsrcs; i++) idp_source_free(F->srcs[i]);
  free(F);
  F = NULL;
  return 0;
}

idp_source *fx_source(const char *path, const char *text) {
  assert_true(F->nsrcs < FX_MAX_SOURCES);
  idp_source *src = idp_source_from_string(path, text, strlen(text));
  F->srcs[F->nsrcs++] = src;
  return src;
}

idp_file *parse_str(const char *path, const char *text, unsigned *errors) {
  idp_source *src = fx_source(path, text);
  idp_file *f = NULL;
  unsigned n = idp_parse(src, &F->arena, &F->diags, &f);
  assert_non_null(f);
  assert_ptr_equal(f->src, src);
  if (errors) *errors = n;
  return f;
}

const char *diags_text_of(idp_diags *d) {
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  assert_non_null(out);
  idp_diags_print(d, out);
  fclose(out);
  char *copy = idp_arena_strndup(&F->arena, buf, len);
  free(buf);
  return copy;
}

const char *diags_text(void) { return diags_text_of(&F->diags); }

void expect_errors(unsigned n) {
  if (F->diags.errors != n) {
    FAIL("expected %u error(s), got %u:\n%s", n, F->diags.errors, diags_text());
  }
}

idp_file *parse_ok(const char *text) {
  idp_file *f = parse_str("test.idp", text, NULL);
  expect_errors(0);
  return f;
}

size_t scan_count(const char *text, unsigned *errors) {
  idp_source *src = fx_source("scan.idp", text);
  unsigned before = F->diags.errors;
  size_t n = idp_scan_only(src, &F->arena, &F->diags);
  if (errors) *errors = F->diags.errors - before;
  return n;
}

idp_item *body_item(const idp_body *b, size_t i) {
  idp_item *it = b->first;
  for (size_t k = 0; it && k < i; k++) it = it->next;
  if (!it) {
    FAIL("body has %zu item(s), wanted item %zu", b->n, i);
  }
  return it;
}

idp_expr *body_attr(const idp_body *b, const char *name) {
  for (idp_item *it = b->first; it; it = it->next)
    if (it->kind == IDP_ITEM_ATTR && strcmp(it->name, name) == 0) return it->value;
  FAIL("no attribute '%s'", name);
  return NULL;
}

idp_expr *top_attr(idp_file *f, const char *name) {
  idp_expr *e = body_attr(&f->body, name);
  assert_non_null(e);
  return e;
}

idp_expr *nth_expr(idp_expr *e, size_t i) {
  for (size_t k = 0; e && k < i; k++) e = e->next;
  assert_non_null(e);
  return e;
}

const char *loc_text(const idp_source *src, idp_loc loc) {
  assert_true(loc.start <= loc.end);
  assert_true(loc.end <= src->len);
  return idp_arena_strndup(&F->arena, src->text + loc.start, loc.end - loc.start);
}

void assert_ref(const idp_expr *e, const char *name) {
  assert_non_null(e);
  assert_string_equal(idp_expr_kind_name(e->kind), idp_expr_kind_name(IDP_E_REF));
  assert_string_equal(e->u.ref.name, name);
}

void assert_number(const idp_expr *e, double v) {
  assert_non_null(e);
  assert_string_equal(idp_expr_kind_name(e->kind), idp_expr_kind_name(IDP_E_NUMBER));
  if (e->u.number != v) {
    FAIL("number %.17g != %.17g", e->u.number, v);
  }
}

void assert_binary(const idp_expr *e, idp_op op) {
  assert_non_null(e);
  assert_string_equal(idp_expr_kind_name(e->kind), idp_expr_kind_name(IDP_E_BINARY));
  assert_string_equal(idp_op_spelling(e->u.binary.op), idp_op_spelling(op));
  assert_int_equal(e->u.binary.op, op);
}

void assert_plain_string(const idp_expr *e, const char *s, size_t n) {
  assert_non_null(e);
  assert_string_equal(idp_expr_kind_name(e->kind), idp_expr_kind_name(IDP_E_TEMPLATE));
  const idp_tpart *p = e->u.template.parts;
  assert_non_null(p);
  assert_null(p->next);
  assert_non_null(p->text);
  assert_null(p->expr);
  assert_int_equal(p->len, n);
  assert_memory_equal(p->text, s, n);
  assert_int_equal(p->text[n], '\0');
}
