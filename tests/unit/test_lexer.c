/* test_lexer.c - tokens through idp_scan_only: counts, newline handling, identifiers with '-',
 * comments, and the lexical errors a user sees (message and place). */
#include "unit.h"

#include <string.h>

/* The first line of the printed diagnostics (arena copy). */
static const char *first_line(void) {
  const char *out = diags_text();
  const char *nl = strchr(out, '\n');
  return idp_arena_strndup(&F->arena, out, nl ? (size_t)(nl - out) : strlen(out));
}

static void assert_scan(const char *text, size_t want_tokens) {
  unsigned errors = 0;
  size_t n = scan_count(text, &errors);
  if (errors) {
    FAIL("scanning %s:\n%s", text, diags_text());
  }
  if (n != want_tokens) FAIL("scanning '%s': %zu tokens, want %zu", text, n, want_tokens);
}

static void lexer_empty_and_blank_input_have_no_tokens(void **state) {
  (void)state;
  assert_scan("", 0);
  assert_scan("\n\n\n", 0);
  assert_scan("  \t \r\n \n", 0);
  assert_scan("# only a comment\n// another\n/* and\n one */\n", 0);
}

static void lexer_attribute_is_four_tokens_with_final_newline(void **state) {
  (void)state;
  /* IDENT '=' NUMBER NL: the input always ends with a newline, even without one. */
  assert_scan("a = 1", 4);
  assert_scan("a = 1\n", 4);
  /* Blank lines fold into one newline. */
  assert_scan("a = 1\n\n\n\nb = 2\n\n", 8);
  assert_scan("a=1 # trailing comment", 4);
}

static void lexer_block_tokens_keep_newlines_inside_braces(void **state) {
  (void)state;
  assert_scan("a { b = 1 }", 7);        /* a { b = 1 } NL */
  assert_scan("a {\n b = 1\n}\n", 9);   /* a { NL b = 1 NL } NL */
  assert_scan("app \"x\" {}", 7);      /* app STR_BEGIN STR_TEXT STR_END { } NL */
}

static void lexer_newlines_dropped_inside_brackets_and_parens(void **state) {
  (void)state;
  assert_scan("x = [\n1,\n\n2\n]\n", 8); /* x = [ 1 , 2 ] NL */
  assert_scan("x = f(\n1,\n2,\n)\n", 10); /* x = f ( 1 , 2 , ) NL */
}

static void lexer_operators_are_single_tokens(void **state) {
  (void)state;
  /* x = a == b != c <= d >= e && f || !g < h > i + j - k * l / m % n ? o : p */
  assert_scan("x = a == b != c <= d >= e && f || !g < h > i + j - k * l / m % n ? o : p", 35);
}

static void lexer_strings_and_interpolation_tokens(void **state) {
  (void)state;
  assert_scan("x = \"\"", 5);          /* x = STR_BEGIN STR_END NL */
  assert_scan("x = \"hi\"", 6);        /* + STR_TEXT */
  assert_scan("x = \"a${b}c\"", 10);  /* x = SB T IB b IE T SE NL */
  assert_scan("x = \"${b}\"", 8);     /* x = SB IB b IE SE NL */
  /* Escapes do not split the text. */
  assert_scan("x = \"a\\nb\\tc\\\"d\\\\e\"", 6);
  assert_scan("x = <<EOT\nhello\nEOT\n", 6); /* x = HB T HE NL */
}

static void lexer_dash_identifiers(void **state) {
  (void)state;
  assert_scan("corp-dns", 2);  /* one name */
  assert_scan("a - b", 4);     /* subtraction */
  assert_scan("a-1", 2);       /* one name */
  assert_scan("a -1", 4);      /* a, '-', 1 */
  assert_scan("x-y-z_w", 2);
}

static void lexer_keywords_only_as_whole_words(void **state) {
  (void)state;
  idp_file *f = parse_ok("a = true\nb = false\nc = null\nd = true-ish\ne = nullable\nf = false_\n");
  assert_int_equal(top_attr(f, "a")->kind, IDP_E_BOOL);
  assert_true(top_attr(f, "a")->u.boolean);
  assert_int_equal(top_attr(f, "b")->kind, IDP_E_BOOL);
  assert_false(top_attr(f, "b")->u.boolean);
  assert_int_equal(top_attr(f, "c")->kind, IDP_E_NULL);
  assert_ref(top_attr(f, "d"), "true-ish");
  assert_ref(top_attr(f, "e"), "nullable");
  assert_ref(top_attr(f, "f"), "false_");
}

static void lexer_unterminated_string_points_at_its_quote(void **state) {
  (void)state;
  unsigned errors;
  scan_count("a = 1\nx = \"abc\ny = 2\n", &errors);
  assert_int_equal(errors, 1);
  assert_string_equal(first_line(), "scan.idp:2:5: error: unterminated string");
  assert_non_null(strstr(diags_text(), "hint: "));
}

static void lexer_unterminated_string_at_eof(void **state) {
  (void)state;
  unsigned errors;
  scan_count("x = \"abc", &errors);
  assert_int_equal(errors, 1);
  assert_string_equal(first_line(), "scan.idp:1:5: error: unterminated string");
}

static void lexer_invalid_escape_is_reported_where_it_is(void **state) {
  (void)state;
  unsigned errors;
  scan_count("x = \"ab\\qc\"\n", &errors);
  assert_int_equal(errors, 1);
  assert_string_equal(first_line(), "scan.idp:1:8: error: invalid escape sequence '\\q'");
  assert_non_null(strstr(diags_text(), "   |        ^~\n"));
}

static void lexer_invalid_unicode_escapes(void **state) {
  (void)state;
  unsigned errors;
  scan_count("a = \"\\uD800\"\nb = \"\\U00110000\"\nc = \"\\u12\"\nd = \"\\u0000\"\n", &errors);
  assert_int_equal(errors, 4);
}

static void lexer_malformed_numbers(void **state) {
  (void)state;
  unsigned errors;
  scan_count("a = 1.\nb = 12abc\nc = 0x1F\n", &errors);
  assert_int_equal(errors, 3);
  assert_string_equal(first_line(), "scan.idp:1:5: error: malformed number '1.'");
  const char *out = diags_text();
  assert_non_null(strstr(out, "scan.idp:2:5: error: malformed number '12abc'\n"));
  assert_non_null(strstr(out, "scan.idp:3:5: error: malformed number '0x1F'\n"));
}

static void lexer_single_ampersand_and_bar_suggest_doubles(void **state) {
  (void)state;
  unsigned errors;
  scan_count("x = a & b\ny = a | b\n", &errors);
  assert_int_equal(errors, 2);
  const char *out = diags_text();
  assert_non_null(strstr(out, "scan.idp:1:7: error: unexpected '&' (did you mean '&&'?)\n"));
  assert_non_null(strstr(out, "scan.idp:2:7: error: unexpected '|' (did you mean '||'?)\n"));
}

static void lexer_stray_characters_report_once_each(void **state) {
  (void)state;
  unsigned errors;
  /* '@', a non-ASCII character outside a string (one error for both of its bytes), a control byte. */
  scan_count("x = @\ny = \xC3\xA9\nz = \x01\n", &errors);
  assert_int_equal(errors, 3);
  const char *out = diags_text();
  assert_non_null(strstr(out, "scan.idp:1:5: error: unexpected character '@'\n"));
  assert_non_null(strstr(out, "scan.idp:2:5: error: unexpected character '\xC3\xA9'\n"));
  assert_non_null(strstr(out, "scan.idp:3:5: error: unexpected byte 0x01\n"));
}

static void lexer_unterminated_block_comment(void **state) {
  (void)state;
  unsigned errors;
  size_t n = scan_count("x = 1\n/* never\nclosed\n", &errors);
  assert_int_equal(errors, 1);
  assert_string_equal(first_line(), "scan.idp:2:1: error: unterminated comment");
  assert_int_equal(n, 4);
}

static void lexer_unterminated_heredoc_names_its_delimiter(void **state) {
  (void)state;
  unsigned errors;
  scan_count("x = <<EOT\nline\nEOTX\n", &errors);
  assert_int_equal(errors, 1);
  assert_string_equal(first_line(), "scan.idp:1:5: error: unterminated heredoc: no line 'EOT' closes it");
}

static void lexer_interpolation_outside_string_is_an_error(void **state) {
  (void)state;
  unsigned errors;
  parse_str("p.idp", "x = ${a}\ny = 1\n", &errors);
  assert_int_equal(errors, 1);
  assert_string_equal(first_line(), "p.idp:1:5: error: '${' is only allowed inside a string or heredoc");
}

static void lexer_unmatched_closer(void **state) {
  (void)state;
  unsigned errors;
  scan_count("x = 1 )\n", &errors);
  assert_int_equal(errors, 1);
  assert_string_equal(first_line(), "scan.idp:1:7: error: unexpected ')' (nothing to close)");
}

static void lexer_invalid_utf8_reported_by_parse(void **state) {
  (void)state;
  unsigned errors;
  parse_str("u.idp", "x = \"a\xFF\"\ny = \"\xE2\x82z\"\n", &errors);
  assert_int_equal(errors, 2);
  assert_string_equal(first_line(), "u.idp:1:7: error: invalid UTF-8 (byte 0xFF)");
  /* A truncated sequence is one error over its bytes. */
  assert_non_null(strstr(diags_text(), "u.idp:2:6: error: invalid UTF-8 (byte 0xE2)\n"));
}

static void lexer_invalid_utf8_lead_bytes_f5_to_ff(void **state) {
  (void)state;
  /* 0xF5..0xFF never start a UTF-8 sequence, even when continuation bytes follow. */
  static const char *const inputs[] = {"x = \"\xFF\x80\x80\"\n", "x = \"\xF5\x80\x80\"\n",
                                       "x = \"\xF8\x88\x80\"\n"};
  for (size_t i = 0; i < 3; i++) {
    unsigned errors = 0;
    idp_diags_free(&F->diags);
    parse_str("u.idp", inputs[i], &errors);
    if (errors != 1) FAIL("input %zu: %u errors, want 1 (invalid UTF-8)\n%s", i, errors, diags_text());
    assert_non_null(strstr(first_line(), "u.idp:1:6: error: invalid UTF-8 (byte 0x"));
  }
}

static void lexer_heredoc_delimiter_must_be_alone_on_its_line_at_eof(void **state) {
  (void)state;
  /* "EOT" after an interpolation on the last line does not close the heredoc. */
  unsigned errors;
  scan_count("x = <<EOT\nfoo ${a}EOT", &errors);
  assert_int_equal(errors, 1);
  assert_string_equal(first_line(), "scan.idp:1:5: error: unterminated heredoc: no line 'EOT' closes it");
  idp_diags_free(&F->diags);
  scan_count("x = <<EOT\nfoo ${a} EOT", &errors);
  assert_int_equal(errors, 1);
  /* While alone on the last line, without a newline, it does. */
  idp_diags_free(&F->diags);
  scan_count("x = <<EOT\nfoo ${a}\n  EOT", &errors);
  assert_int_equal(errors, 0);
}

static void lexer_comments_three_kinds_in_order(void **state) {
  (void)state;
  const char *t = "# hash\n// slashes\n/* block\n spans */ x = 1 # after\ny = \"# not /* a */ comment\"\n";
  idp_file *f = parse_ok(t);
  assert_int_equal(f->ncomments, 4);
  const char *want[] = {"# hash", "// slashes", "/* block\n spans */", "# after"};
  size_t i = 0;
  for (idp_comment *c = f->comments; c; c = c->next, i++) {
    assert_true(i < 4);
    assert_loc_text(f->src, c->loc, want[i]);
  }
  assert_int_equal(i, 4);
  /* Exact offsets for the first two. */
  assert_int_equal(f->comments->loc.start, 0);
  assert_int_equal(f->comments->loc.end, 6);
  assert_int_equal(f->comments->next->loc.start, 7);
  assert_int_equal(f->comments->next->loc.end, 17);
  assert_int_equal(f->body.n, 2);
}

static void lexer_comment_at_eof_without_newline(void **state) {
  (void)state;
  idp_file *f = parse_ok("x = 1 // end");
  assert_int_equal(f->ncomments, 1);
  assert_loc_text(f->src, f->comments->loc, "// end");
  assert_number(top_attr(f, "x"), 1);
}

static void lexer_comment_in_crlf_file_excludes_cr(void **state) {
  (void)state;
  idp_file *f = parse_ok("# one\r\nx = 1 // two\r\n");
  assert_int_equal(f->ncomments, 2);
  assert_loc_text(f->src, f->comments->loc, "# one");
  assert_loc_text(f->src, f->comments->next->loc, "// two");
}

static void lexer_comments_inside_blocks_and_expressions(void **state) {
  (void)state;
  idp_file *f = parse_ok("a \"b\" { # on the brace line\n  x = [ # in a list\n    1, // one\n  ]\n}\n");
  assert_int_equal(f->ncomments, 3);
  assert_loc_text(f->src, f->comments->next->next->loc, "// one");
  idp_item *a = body_item(&f->body, 0);
  assert_int_equal(nth_expr(body_attr(&a->body, "x"), 0)->u.list.n, 1);
}

int test_lexer(void) {
  const struct CMUnitTest tests[] = {
      FX_TEST(lexer_empty_and_blank_input_have_no_tokens),
      FX_TEST(lexer_attribute_is_four_tokens_with_final_newline),
      FX_TEST(lexer_block_tokens_keep_newlines_inside_braces),
      FX_TEST(lexer_newlines_dropped_inside_brackets_and_parens),
      FX_TEST(lexer_operators_are_single_tokens),
      FX_TEST(lexer_strings_and_interpolation_tokens),
      FX_TEST(lexer_dash_identifiers),
      FX_TEST(lexer_keywords_only_as_whole_words),
      FX_TEST(lexer_unterminated_string_points_at_its_quote),
      FX_TEST(lexer_unterminated_string_at_eof),
      FX_TEST(lexer_invalid_escape_is_reported_where_it_is),
      FX_TEST(lexer_invalid_unicode_escapes),
      FX_TEST(lexer_malformed_numbers),
      FX_TEST(lexer_single_ampersand_and_bar_suggest_doubles),
      FX_TEST(lexer_stray_characters_report_once_each),
      FX_TEST(lexer_unterminated_block_comment),
      FX_TEST(lexer_unterminated_heredoc_names_its_delimiter),
      FX_TEST(lexer_interpolation_outside_string_is_an_error),
      FX_TEST(lexer_unmatched_closer),
      FX_TEST(lexer_invalid_utf8_reported_by_parse),
      FX_TEST(lexer_invalid_utf8_lead_bytes_f5_to_ff),
      FX_TEST(lexer_heredoc_delimiter_must_be_alone_on_its_line_at_eof),
      FX_TEST(lexer_comments_three_kinds_in_order),
      FX_TEST(lexer_comment_at_eof_without_newline),
      FX_TEST(lexer_comment_in_crlf_file_excludes_cr),
      FX_TEST(lexer_comments_inside_blocks_and_expressions),
  };
  return cmocka_run_group_tests_name("lexer", tests, NULL, NULL);
}
