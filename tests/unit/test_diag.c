/* test_diag.c - the exact printed form of diagnostics, their order, and the cap on how many are kept. */
#include "unit.h"

#include <stdlib.h>
#include <string.h>

/* The location of the first occurrence of needle in src. */
static idp_loc find(idp_source *src, const char *needle) {
  const char *p = strstr(src->text, needle);
  assert_non_null(p);
  idp_loc loc = {(uint32_t)(p - src->text), (uint32_t)(p - src->text + strlen(needle))};
  return loc;
}

static void diag_prints_location_line_caret_and_hint(void **state) {
  (void)state;
  idp_source *src = fx_source("spec.idp", "app \"shop\" {\n  port = \"x\"\n}\n");
  idp_diag_error(&F->diags, src, find(src, "\"x\""), "port must be a %s", "number");
  idp_diag_hint(&F->diags, "write port = %d", 8080);
  assert_int_equal(F->diags.errors, 1);
  assert_string_equal(diags_text(),
                      "spec.idp:2:10: error: port must be a number\n"
                      " 2 |   port = \"x\"\n"
                      "   |          ^~~\n"
                      "hint: write port = 8080\n");
}

static void diag_single_byte_and_empty_range_get_a_lone_caret(void **state) {
  (void)state;
  idp_source *src = fx_source("s.idp", "x = @\n");
  idp_diag_error(&F->diags, src, find(src, "@"), "one");
  idp_loc empty = {4, 4};
  idp_diag_warning(&F->diags, src, empty, "two");
  assert_int_equal(F->diags.errors, 1); /* warnings are not errors */
  assert_string_equal(diags_text(),
                      "s.idp:1:5: error: one\n"
                      " 1 | x = @\n"
                      "   |     ^\n"
                      "s.idp:1:5: warning: two\n"
                      " 1 | x = @\n"
                      "   |     ^\n");
}

static void diag_caret_line_keeps_tabs(void **state) {
  (void)state;
  idp_source *src = fx_source("t.idp", "a {\n\tx\t= @@\n}\n");
  idp_diag_error(&F->diags, src, find(src, "@@"), "bad");
  assert_string_equal(diags_text(),
                      "t.idp:2:6: error: bad\n"
                      " 2 | \tx\t= @@\n"
                      "   | \t \t  ^~\n");
}

static void diag_caret_counts_code_points(void **state) {
  (void)state;
  /* "é€ = ÿÿ": the caret sits under the first ÿ and spans two characters of four bytes. */
  idp_source *src = fx_source("u.idp", "\xC3\xA9\xE2\x82\xAC = \xC3\xBF\xC3\xBF\n");
  idp_diag_error(&F->diags, src, find(src, "\xC3\xBF\xC3\xBF"), "bad");
  assert_string_equal(diags_text(),
                      "u.idp:1:6: error: bad\n"
                      " 1 | \xC3\xA9\xE2\x82\xAC = \xC3\xBF\xC3\xBF\n"
                      "   |      ^~\n");
}

static void diag_range_past_line_end_is_cut_at_the_line(void **state) {
  (void)state;
  idp_source *src = fx_source("m.idp", "x = [\n  1\n]\n");
  idp_loc loc = find(src, "[\n  1\n]");
  idp_diag_error(&F->diags, src, loc, "bad list");
  assert_string_equal(diags_text(),
                      "m.idp:1:5: error: bad list\n"
                      " 1 | x = [\n"
                      "   |     ^\n");
}

static void diag_wide_line_numbers_align_the_bar(void **state) {
  (void)state;
  char text[128] = "";
  for (int i = 0; i < 11; i++) strcat(text, "a = 1\n");
  idp_source *src = fx_source("w.idp", text);
  idp_loc loc = {60, 61}; /* the 'a' starting line 11 */
  idp_diag_error(&F->diags, src, loc, "eleven");
  assert_string_equal(diags_text(),
                      "w.idp:11:1: error: eleven\n"
                      " 11 | a = 1\n"
                      "    | ^\n");
}

static void diag_crlf_line_is_shown_without_cr(void **state) {
  (void)state;
  idp_source *src = fx_source("c.idp", "a = 1\r\nb = ?\r\n");
  idp_diag_error(&F->diags, src, find(src, "?"), "bad");
  assert_string_equal(diags_text(),
                      "c.idp:2:5: error: bad\n"
                      " 2 | b = ?\n"
                      "   |     ^\n");
}

static void diag_without_place_prints_plainly(void **state) {
  (void)state;
  idp_loc none = {0, 0};
  idp_diag_error(&F->diags, NULL, none, "no spec files given");
  idp_diag_hint(&F->diags, "pass a directory");
  assert_string_equal(diags_text(), "idp: error: no spec files given\nhint: pass a directory\n");
}

static void diag_sorted_by_file_then_position_notes_follow_their_error(void **state) {
  (void)state;
  idp_source *a = fx_source("a.idp", "one\ntwo\nthree\n");
  idp_source *b = fx_source("b.idp", "four\nfive\n");
  idp_loc none = {0, 0};
  idp_diag_error(&F->diags, b, find(b, "five"), "B2");
  idp_diag_error(&F->diags, a, find(a, "three"), "A3");
  idp_diag_note(&F->diags, b, find(b, "four"), "note of A3");  /* elsewhere, earlier: stays after A3 */
  idp_diag_note(&F->diags, a, find(a, "one"), "second note of A3");
  idp_diag_hint(&F->diags, "hint of A3");                      /* after a note: goes to A3 */
  idp_diag_error(&F->diags, a, find(a, "one"), "A1");
  idp_diag_error(&F->diags, b, find(b, "four"), "B1");
  idp_diag_error(&F->diags, NULL, none, "general");
  idp_diag_error(&F->diags, a, find(a, "one"), "A1 again");   /* a line already with an error: dropped */
  assert_int_equal(F->diags.errors, 5);
  assert_int_equal(F->diags.n, 7);

  const char *out = diags_text();
  /* Only the first line of each diagnostic, in order. */
  const char *want[] = {
      "idp: error: general",
      "a.idp:1:1: error: A1",
      "a.idp:3:1: error: A3",
      "hint: hint of A3",
      "b.idp:1:1: note: note of A3",
      "a.idp:1:1: note: second note of A3",
      "b.idp:1:1: error: B1",
      "b.idp:2:1: error: B2",
  };
  size_t k = 0;
  for (const char *line = out; *line;) {
    const char *nl = strchr(line, '\n');
    assert_non_null(nl);
    size_t len = (size_t)(nl - line);
    if (line[0] != ' ') {
      if (k >= sizeof want / sizeof *want) FAIL("extra line: %.*s", (int)len, line);
      if (strlen(want[k]) != len || memcmp(want[k], line, len) != 0)
        FAIL("line %zu: got '%.*s', want '%s'\n%s", k, (int)len, line, want[k], out);
      k++;
    }
    line = nl + 1;
  }
  assert_int_equal(k, sizeof want / sizeof *want);
}

static void diag_cap_keeps_the_first_and_counts_the_rest(void **state) {
  (void)state;
  /* One error per line: errors on one line after the first are not kept (see diag.h). */
  enum { N = IDP_DIAG_MAX + 3 };
  char *text = malloc(2 * N + 1);
  for (int i = 0; i < N; i++) memcpy(text + 2 * i, "x\n", 2);
  text[2 * N] = '\0';
  idp_source *src = fx_source("many.idp", text);
  free(text);
  idp_loc loc = {0, 1};
  for (int i = 0; i < N; i++) {
    loc.start = (uint32_t)(2 * i);
    loc.end = loc.start + 1;
    idp_diag_error(&F->diags, src, loc, "error %d", i);
  }
  idp_diag_note(&F->diags, src, loc, "note of a dropped error");
  idp_diag_hint(&F->diags, "hint of a dropped error");
  assert_int_equal(F->diags.n, IDP_DIAG_MAX);
  assert_int_equal(F->diags.errors, N);
  assert_int_equal(F->diags.dropped, 3); /* the note went with its error, uncounted */
  /* The kept ones are the first ones, and none got the late hint. */
  assert_string_equal(F->diags.v[0].msg, "error 0");
  assert_string_equal(F->diags.v[IDP_DIAG_MAX - 1].msg, "error 9999");
  for (size_t i = 0; i < F->diags.n; i++) assert_null(F->diags.v[i].hint);
  const char *out = diags_text();
  const char *tail = "idp: 3 more diagnostics not shown\n";
  size_t n = strlen(out), t = strlen(tail);
  assert_true(n > t);
  assert_string_equal(out + n - t, tail);
  assert_null(strstr(out, "hint:"));
  assert_null(strstr(out, "error 10000"));
}

static void diag_hint_after_orphan_note_still_attaches(void **state) {
  (void)state;
  /* A note with no error before it has nothing to belong to and is dropped; that must not stop
   * later errors from getting their hints and notes. */
  idp_source *src = fx_source("o.idp", "x\n");
  idp_loc loc = {0, 1};
  idp_diag_note(&F->diags, src, loc, "orphan");
  idp_diag_error(&F->diags, src, loc, "real");
  idp_diag_hint(&F->diags, "the hint");
  idp_diag_note(&F->diags, src, loc, "the note");
  const char *out = diags_text();
  assert_non_null(strstr(out, "error: real\n"));
  assert_non_null(strstr(out, "hint: the hint\n"));
  assert_non_null(strstr(out, "note: the note\n"));
}

static void diag_init_and_free_leave_an_empty_set(void **state) {
  (void)state;
  idp_source *src = fx_source("x.idp", "x\n");
  idp_loc loc = {0, 1};
  idp_diag_error(&F->diags, src, loc, "e");
  idp_diag_hint(&F->diags, "h1");
  idp_diag_hint(&F->diags, "h2"); /* replaces h1 */
  assert_string_equal(F->diags.v[0].hint, "h2");
  idp_diags_free(&F->diags);
  assert_int_equal(F->diags.n, 0);
  assert_int_equal(F->diags.errors, 0);
  assert_null(F->diags.v);
  assert_string_equal(diags_text(), "");
}

int test_diag(void) {
  const struct CMUnitTest tests[] = {
      FX_TEST(diag_prints_location_line_caret_and_hint),
      FX_TEST(diag_single_byte_and_empty_range_get_a_lone_caret),
      FX_TEST(diag_caret_line_keeps_tabs),
      FX_TEST(diag_caret_counts_code_points),
      FX_TEST(diag_range_past_line_end_is_cut_at_the_line),
      FX_TEST(diag_wide_line_numbers_align_the_bar),
      FX_TEST(diag_crlf_line_is_shown_without_cr),
      FX_TEST(diag_without_place_prints_plainly),
      FX_TEST(diag_sorted_by_file_then_position_notes_follow_their_error),
      FX_TEST(diag_cap_keeps_the_first_and_counts_the_rest),
      FX_TEST(diag_hint_after_orphan_note_still_attaches),
      FX_TEST(diag_init_and_free_leave_an_empty_set),
  };
  return cmocka_run_group_tests_name("diag", tests, NULL, NULL);
}
