/* test_stream.c - the streamed parse (idp_parse_stream) and the item-by-item validator: items come
 * in source order, each is dropped after its callback, and validation gives the same diagnostics as
 * validating whole trees. */
#include "unit.h"

#include <string.h>

#include "util.h"
#include "validate.h"

enum { MAX_SEEN = 64 };

typedef struct seen {
  const char *what[MAX_SEEN]; /* "kind label..." of each item (fixture arena) */
  idp_loc loc[MAX_SEEN];
  size_t n;
} seen;

static void record(idp_item *it, void *payload) {
  seen *s = payload;
  if (s->n == MAX_SEEN) return;
  idp_buf b = {0};
  idp_buf_puts(&b, it->name);
  for (idp_label *l = it->labels; l; l = l->next) idp_buf_printf(&b, " %s", l->name);
  if (it->kind == IDP_ITEM_BLOCK) idp_buf_printf(&b, " {%zu}", it->body.n);
  s->what[s->n] = idp_arena_strndup(&F->arena, b.data, b.len);
  s->loc[s->n++] = it->loc;
  idp_buf_free(&b);
}

static unsigned stream(const char *path, const char *text, seen *s) {
  idp_source *src = fx_source(path, text);
  return idp_parse_stream(src, &F->arena, &F->diags, record, s);
}

static void stream_hands_items_in_source_order(void **state) {
  (void)state;
  seen s = {0};
  unsigned errors = stream("s.idp",
                           "# head\n"
                           "integration powerdns \"corp-dns\" { api = 1 }\n"
                           "resource powerdns.zone \"z\" {\n  name = \"x\" // note\n  lifecycle {}\n}\n"
                           "x = 1\n"
                           "app \"shop\" {}\n",
                           &s);
  assert_int_equal(errors, 0);
  assert_int_equal(s.n, 4);
  assert_string_equal(s.what[0], "integration powerdns corp-dns {1}");
  assert_string_equal(s.what[1], "resource powerdns.zone z {2}");
  assert_string_equal(s.what[2], "x");
  assert_string_equal(s.what[3], "app shop {0}");
  assert_int_equal(s.loc[3].start, strlen("# head\n"
                                          "integration powerdns \"corp-dns\" { api = 1 }\n"
                                          "resource powerdns.zone \"z\" {\n  name = \"x\" // note\n  lifecycle {}\n}\n"
                                          "x = 1\n"));
}

static void stream_goes_on_after_errors(void **state) {
  (void)state;
  seen s = {0};
  unsigned errors = stream("s.idp", "env \"a\" {}\nbroken = = 1\nenv \"b\" {\n  x = )\n}\nenv \"c\" {}\n", &s);
  assert_true(errors >= 2);
  assert_int_equal(s.n, 3);
  assert_string_equal(s.what[0], "env a {0}");
  assert_string_equal(s.what[1], "env b {0}");
  assert_string_equal(s.what[2], "env c {0}");
}

/* Collects a streamed spec's validation into F->diags2. */
typedef struct vctx {
  idp_validator *v;
  idp_source *src;
} vctx;

static void validate_item(idp_item *it, void *payload) {
  vctx *c = payload;
  idp_validator_item(c->v, c->src, it);
}

static void stream_validation_matches_whole_tree_validation(void **state) {
  (void)state;
  /* Duplicates within a file, across files, in small bodies (compared pairwise) and in large
   * ones (over 32 items: hashed), plus unknown kinds and bad names. */
  idp_buf big = {0};
  idp_buf_puts(&big, "app \"big\" {\n");
  for (int i = 0; i < 40; i++) idp_buf_printf(&big, "  a%d = %d\n", i, i);
  idp_buf_puts(&big, "  a3 = 0\n");
  for (int i = 0; i < 40; i++) idp_buf_printf(&big, "  need \"n%d\" {}\n", i);
  idp_buf_puts(&big, "  need \"n7\" {}\n}\n");
  const char *texts[] = {
      "env \"dev\" {}\nenv \"dev\" {}\napp \"shop\" {\n  port = 1\n  port = 2\n  need \"db\" {}\n"
      "  need \"db\" {}\n  variables {}\n  variables {}\n}\nintegraton x \"y\" {}\n",
      idp_arena_strndup(&F->arena, big.data, big.len),
      "env \"dev\" {}\napp \"Shop\" {}\napp \"shop\" {}\nprovide dns \"d\" {\n  match {}\n  match {}\n}\n",
  };
  idp_buf_free(&big);
  enum { N = sizeof texts / sizeof *texts };
  const char *paths[N] = {"a.idp", "b.idp", "c.idp"};

  /* Whole trees into F->diags. */
  idp_file *files[N];
  for (size_t i = 0; i < N; i++) files[i] = parse_str(paths[i], texts[i], NULL);
  expect_errors(0);
  unsigned whole = idp_validate(files, N, &F->diags);

  /* Streamed into F->diags2, over sources of their own. */
  vctx c = {idp_validator_new(&F->diags2), NULL};
  for (size_t i = 0; i < N; i++) {
    c.src = fx_source(paths[i], texts[i]);
    idp_parse_stream(c.src, &F->arena, &F->diags2, validate_item, &c);
  }
  idp_validator_free(c.v);

  const char *a = diags_text(), *b = diags_text_of(&F->diags2);
  if (strcmp(a, b) != 0) FAIL("whole-tree validation:\n%s\nstreamed:\n%s", a, b);
  assert_int_equal(F->diags2.errors, whole);
  /* And the expected findings are all there. */
  assert_int_equal(whole, 11);
  assert_non_null(strstr(a, "a.idp:2:1: error: duplicate env 'dev'\n"));
  assert_non_null(strstr(a, "a.idp:5:3: error: attribute 'port' is set twice in 'app'\n"));
  assert_non_null(strstr(a, "a.idp:7:3: error: duplicate need 'db'\n"));
  assert_non_null(strstr(a, "a.idp:9:3: error: 'variables' may appear only once in 'app'\n"));
  assert_non_null(strstr(a, "a.idp:11:1: error: unknown block kind 'integraton'\n"));
  assert_non_null(strstr(a, "b.idp:42:3: error: attribute 'a3' is set twice in 'app'\n"));
  assert_non_null(strstr(a, "b.idp:5:3: note: set first here\n"));
  assert_non_null(strstr(a, "b.idp:83:3: error: duplicate need 'n7'\n"));
  assert_non_null(strstr(a, "b.idp:50:3: note: declared first here\n"));
  assert_non_null(strstr(a, "c.idp:1:1: error: duplicate env 'dev'\n"));
  assert_non_null(strstr(a, "c.idp:2:5: error: invalid app name 'Shop'\n"));
  assert_non_null(strstr(a, "c.idp:3:1: error: duplicate app 'shop'\n"));
  assert_non_null(strstr(a, "c.idp:6:3: error: 'match' may appear only once in 'provide'\n"));
}

static void stream_counts_items_but_keeps_no_tree(void **state) {
  (void)state;
  seen s = {0};
  idp_source *src = fx_source("s.idp", "env \"a\" {}\n# c\nenv \"b\" {}\n");
  idp_parse_stream(src, &F->arena, &F->diags, record, &s);
  assert_int_equal(s.n, 2);
  /* The same source parses to a full tree afterwards: streaming left it intact. */
  idp_file *f = NULL;
  assert_int_equal(idp_parse(src, &F->arena, &F->diags, &f), 0);
  assert_int_equal(f->body.n, 2);
  assert_int_equal(f->ncomments, 1);
  assert_loc_text(src, f->comments->loc, "# c");
}

int test_stream(void) {
  const struct CMUnitTest tests[] = {
      FX_TEST(stream_hands_items_in_source_order),
      FX_TEST(stream_goes_on_after_errors),
      FX_TEST(stream_validation_matches_whole_tree_validation),
      FX_TEST(stream_counts_items_but_keeps_no_tree),
  };
  return cmocka_run_group_tests_name("stream", tests, NULL, NULL);
}
