/* test_source.c - byte offsets to line and column (columns in code points), and source lines. */
#include "unit.h"

#include <string.h>

static void lc(idp_source *src, uint32_t off, unsigned want_line, unsigned want_col) {
  unsigned line = 0, col = 0;
  idp_source_linecol(src, off, &line, &col);
  if (line != want_line || col != want_col) {
    FAIL("offset %u: got %u:%u, want %u:%u", off, line, col, want_line, want_col);
  }
}

static void line_is(idp_source *src, uint32_t off, const char *want) {
  size_t len = 99;
  const char *l = idp_source_line(src, off, &len);
  assert_non_null(l);
  assert_string_equal(idp_arena_strndup(&F->arena, l, len), want);
}

static void source_linecol_ascii(void **state) {
  (void)state;
  idp_source *src = fx_source("a.idp", "ab\ncd\n\nefg\n");
  lc(src, 0, 1, 1);
  lc(src, 1, 1, 2);
  lc(src, 2, 1, 3); /* the newline itself ends line 1 */
  lc(src, 3, 2, 1);
  lc(src, 4, 2, 2);
  lc(src, 6, 3, 1); /* empty line */
  lc(src, 7, 4, 1);
  lc(src, 9, 4, 3);
}

static void source_linecol_crlf(void **state) {
  (void)state;
  idp_source *src = fx_source("a.idp", "ab\r\ncd\r\nx");
  lc(src, 1, 1, 2);
  lc(src, 2, 1, 3); /* the \r */
  lc(src, 4, 2, 1);
  lc(src, 5, 2, 2);
  lc(src, 8, 3, 1);
  line_is(src, 0, "ab");
  line_is(src, 5, "cd");
  line_is(src, 8, "x");
}

static void source_linecol_utf8_counts_code_points(void **state) {
  (void)state;
  /* é is 2 bytes, € 3, 😀 4. */
  const char *t = "\xC3\xA9=1\n\xE2\x82\xAC\xF0\x9F\x98\x80 x";
  idp_source *src = fx_source("u.idp", t);
  lc(src, 0, 1, 1);
  lc(src, 2, 1, 2); /* '=' after é */
  lc(src, 3, 1, 3);
  lc(src, 5, 2, 1);
  lc(src, 8, 2, 2);  /* after € */
  lc(src, 12, 2, 3); /* the space after 😀 */
  lc(src, 13, 2, 4);
  line_is(src, 13, "\xE2\x82\xAC\xF0\x9F\x98\x80 x");
}

static void source_last_line_without_newline(void **state) {
  (void)state;
  idp_source *src = fx_source("a.idp", "a\nbc");
  lc(src, 2, 2, 1);
  lc(src, 3, 2, 2);
  lc(src, 4, 2, 3); /* EOF */
  line_is(src, 3, "bc");
  line_is(src, 4, "bc");
}

static void source_offset_at_and_past_eof(void **state) {
  (void)state;
  idp_source *src = fx_source("a.idp", "x = 1\n");
  /* EOF after a final newline is the start of the (empty) next line. */
  lc(src, 6, 2, 1);
  line_is(src, 6, "");
  /* Offsets past the end are clamped to it. */
  lc(src, 1000, 2, 1);
  line_is(src, 1000, "");

  idp_source *empty = fx_source("e.idp", "");
  lc(empty, 0, 1, 1);
  line_is(empty, 0, "");
}

static void source_line_returns_the_line_holding_offset(void **state) {
  (void)state;
  idp_source *src = fx_source("a.idp", "first\nsecond line\n\tthird\n");
  line_is(src, 0, "first");
  line_is(src, 5, "first"); /* its newline */
  line_is(src, 6, "second line");
  line_is(src, 17, "second line");
  line_is(src, 18, "\tthird");
  size_t len;
  const char *l = idp_source_line(src, 10, &len);
  assert_ptr_equal(l, src->text + 6);
  assert_int_equal(len, 11);
}

static void source_from_string_copies_and_terminates(void **state) {
  (void)state;
  char buf[] = "abc";
  idp_source *src = fx_source("path/x.idp", buf);
  buf[0] = 'z';
  assert_string_equal(src->path, "path/x.idp");
  assert_int_equal(src->len, 3);
  assert_memory_equal(src->text, "abc\0\0", 5);
}

int test_source(void) {
  const struct CMUnitTest tests[] = {
      FX_TEST(source_linecol_ascii),
      FX_TEST(source_linecol_crlf),
      FX_TEST(source_linecol_utf8_counts_code_points),
      FX_TEST(source_last_line_without_newline),
      FX_TEST(source_offset_at_and_past_eof),
      FX_TEST(source_line_returns_the_line_holding_offset),
      FX_TEST(source_from_string_copies_and_terminates),
  };
  return cmocka_run_group_tests_name("source", tests, NULL, NULL);
}
