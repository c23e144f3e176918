/* test_recovery.c - syntax errors: each is reported once, at the right place, and the parse goes on
 * so that the valid parts of the file are still in the tree; limits on nesting hold without crashing. */
#include "unit.h"

#include <string.h>

#include "util.h"

static const char *first_line(void) {
  const char *out = diags_text();
  const char *nl = strchr(out, '\n');
  return idp_arena_strndup(&F->arena, out, nl ? (size_t)(nl - out) : strlen(out));
}

static idp_item *find_block(idp_file *f, const char *kind, const char *label) {
  for (idp_item *it = f->body.first; it; it = it->next)
    if (it->kind == IDP_ITEM_BLOCK && strcmp(it->name, kind) == 0 && it->labels &&
        strcmp(it->labels->name, label) == 0)
      return it;
  FAIL("no block %s \"%s\" in the tree", kind, label);
  return NULL;
}

static bool has_attr(const idp_body *b, const char *name) {
  for (idp_item *it = b->first; it; it = it->next)
    if (it->kind == IDP_ITEM_ATTR && strcmp(it->name, name) == 0) return true;
  return false;
}

/* Builds a string of n copies of piece between head and tail (arena). */
static const char *repeat(const char *head, const char *piece, size_t n, const char *tail) {
  idp_buf b = {0};
  idp_buf_puts(&b, head);
  for (size_t i = 0; i < n; i++) idp_buf_puts(&b, piece);
  idp_buf_puts(&b, tail);
  char *s = idp_arena_strndup(&F->arena, b.data, b.len);
  idp_buf_free(&b);
  return s;
}

static void recovery_three_errors_keep_the_valid_blocks(void **state) {
  (void)state;
  unsigned errors;
  idp_file *f = parse_str("r.idp",
                          "env \"dev\" {\n"
                          "  type = = \"development\"\n"
                          "}\n"
                          "app \"shop\" {\n"
                          "  port = 8080 8081\n"
                          "  image = \"shop:v1\"\n"
                          "}\n"
                          "bad line here\n"
                          "env \"prod\" { type = \"production\" }\n",
                          &errors);
  assert_int_equal(errors, 3);
  expect_errors(3);
  const char *out = diags_text();
  assert_non_null(strstr(out, "r.idp:2:10: error: "));
  assert_non_null(strstr(out, "r.idp:5:15: error: "));
  assert_non_null(strstr(out, "r.idp:8:"));
  assert_int_equal(f->body.n, 3);
  find_block(f, "env", "dev");
  idp_item *app = find_block(f, "app", "shop");
  assert_true(has_attr(&app->body, "image"));
  idp_item *prod = find_block(f, "env", "prod");
  assert_plain(body_attr(&prod->body, "type"), "production");
}

static void recovery_error_message_format(void **state) {
  (void)state;
  unsigned errors;
  parse_str("e.idp", "x = = 1\n", &errors);
  assert_int_equal(errors, 1);
  assert_string_equal(diags_text(),
                      "e.idp:1:5: error: expected an expression, found '='\n"
                      " 1 | x = = 1\n"
                      "   |     ^\n");
}

static void recovery_missing_brace_at_eof_names_the_block(void **state) {
  (void)state;
  unsigned errors;
  idp_file *f = parse_str("m.idp", "env \"dev\" { type = \"development\" }\napp \"shop\" {\n  port = 8080\n", &errors);
  assert_int_equal(errors, 1);
  const char *line = first_line();
  assert_non_null(strstr(line, "error: '}' expected"));
  assert_non_null(strstr(line, "'app'"));
  assert_non_null(strstr(line, "line 2"));
  /* The block is closed for it and keeps what it held. */
  assert_int_equal(f->body.n, 2);
  idp_item *app = find_block(f, "app", "shop");
  assert_number(body_attr(&app->body, "port"), 8080);
}

static void recovery_missing_braces_nested_report_once(void **state) {
  (void)state;
  unsigned errors;
  idp_file *f = parse_str("m.idp", "app \"a\" {\n  need \"db\" {\n    type = \"postgres\"\n", &errors);
  assert_int_equal(errors, 1);
  assert_non_null(strstr(first_line(), "'}' expected"));
  idp_item *app = find_block(f, "app", "a");
  assert_int_equal(app->body.n, 1);
}

static void recovery_unclosed_paren_closed_by_brace(void **state) {
  (void)state;
  unsigned errors;
  idp_file *f = parse_str("p.idp", "app \"a\" {\n  x = f(1\n}\nenv \"e\" {}\n", &errors);
  assert_int_equal(errors, 1);
  assert_non_null(strstr(first_line(), "')' expected (to close '(' at line 2)"));
  assert_int_equal(f->body.n, 2);
  find_block(f, "env", "e");
}

static void recovery_unterminated_string_in_block(void **state) {
  (void)state;
  unsigned errors;
  idp_file *f = parse_str("s.idp", "app \"a\" {\n  x = \"abc\n  y = 1\n}\n", &errors);
  assert_int_equal(errors, 1);
  assert_string_equal(first_line(), "s.idp:2:7: error: unterminated string");
  idp_item *app = find_block(f, "app", "a");
  assert_number(body_attr(&app->body, "y"), 1);
}

static void recovery_unterminated_interpolation(void **state) {
  (void)state;
  unsigned errors;
  idp_file *f = parse_str("s.idp", "x = \"a${b\"\ny = 2\n", &errors);
  assert_true(errors >= 1);
  assert_non_null(strstr(first_line(), "s.idp:1:"));
  assert_number(top_attr(f, "y"), 2);
}

static void recovery_missing_value_and_reserved_word(void **state) {
  (void)state;
  unsigned errors;
  idp_file *f = parse_str("v.idp", "x =\ntrue = 1\ny = 2\n", &errors);
  assert_int_equal(errors, 2);
  const char *out = diags_text();
  assert_non_null(strstr(out, "v.idp:1:4: error: expected an expression, found end of line\n"));
  assert_non_null(strstr(out, "v.idp:2:1: error: 'true' is a reserved word"));
  assert_int_equal(f->body.n, 1);
  assert_number(top_attr(f, "y"), 2);
}

static void recovery_errors_accumulate_across_files(void **state) {
  (void)state;
  unsigned e1, e2;
  parse_str("a.idp", "x = = 1\n", &e1);
  parse_str("b.idp", "y = 1\nz = ]\nw = [\n", &e2);
  assert_int_equal(e1, 1);
  /* `z = ]` is one mistake: the stray ']' (the missing value on that line is not said again);
   * the unclosed '[' is a second one. */
  assert_int_equal(e2, 2);
  expect_errors(3);
  const char *out = diags_text();
  const char *a = strstr(out, "a.idp:1:5:"), *b = strstr(out, "b.idp:2:5:");
  assert_non_null(a);
  assert_non_null(b);
  assert_true(a < b);
}

static void recovery_bracket_nesting_limit(void **state) {
  (void)state;
  unsigned errors;
  idp_file *f = parse_str("deep.idp", repeat("x = ", "[", 5000, "\n"), &errors);
  assert_int_equal(errors, 1);
  assert_non_null(strstr(first_line(), "nesting too deep"));
  assert_non_null(f);
}

static void recovery_block_nesting_limit(void **state) {
  (void)state;
  unsigned errors;
  parse_str("deep.idp", repeat("", "a {\n", 3000, ""), &errors);
  assert_int_equal(errors, 1);
  assert_non_null(strstr(first_line(), "nesting too deep"));
}

static void recovery_interpolation_nesting_limit(void **state) {
  (void)state;
  unsigned errors;
  parse_str("deep.idp", repeat("x = ", "\"${", 3000, "\n"), &errors);
  assert_int_equal(errors, 1);
  assert_non_null(strstr(first_line(), "nesting too deep"));
}

static void recovery_closed_deep_nesting_is_limited_too(void **state) {
  (void)state;
  unsigned errors;
  idp_buf b = {0};
  idp_buf_puts(&b, "x = ");
  for (int i = 0; i < 3000; i++) idp_buf_putc(&b, '(');
  idp_buf_putc(&b, '1');
  for (int i = 0; i < 3000; i++) idp_buf_putc(&b, ')');
  idp_buf_puts(&b, "\ny = 2\n");
  char *text = idp_arena_strndup(&F->arena, b.data, b.len);
  idp_buf_free(&b);
  parse_str("deep.idp", text, &errors);
  assert_int_equal(errors, 1);
  assert_non_null(strstr(first_line(), "too deep"));
}

static void recovery_just_under_the_limit_parses(void **state) {
  (void)state;
  idp_buf b = {0};
  idp_buf_puts(&b, "x = ");
  for (int i = 0; i < 500; i++) idp_buf_putc(&b, '[');
  idp_buf_putc(&b, '1');
  for (int i = 0; i < 500; i++) idp_buf_putc(&b, ']');
  idp_buf_puts(&b, "\n");
  char *text = idp_arena_strndup(&F->arena, b.data, b.len);
  idp_buf_free(&b);
  idp_file *f = parse_ok(text);
  idp_expr *e = top_attr(f, "x");
  size_t depth = 0;
  while (e->kind == IDP_E_LIST) {
    depth++;
    assert_int_equal(e->u.list.n, 1);
    e = e->u.list.items;
  }
  assert_int_equal(depth, 500);
  assert_number(e, 1);
}

static void recovery_deep_unary_chain_reports_once(void **state) {
  (void)state;
  unsigned errors;
  parse_str("deep.idp", repeat("x = ", "-", 3000, "1\ny = 2\n"), &errors);
  assert_int_equal(errors, 1);
  assert_non_null(strstr(first_line(), "too deep"));
}

static void recovery_very_deep_unary_chain_exhausts_parser_once(void **state) {
  (void)state;
  unsigned errors;
  parse_str("deep.idp", repeat("x = ", "!", 30000, "a\n"), &errors);
  assert_int_equal(errors, 1);
  assert_non_null(strstr(first_line(), "too deep"));
}

static void recovery_long_flat_sum_is_bounded(void **state) {
  (void)state;
  unsigned errors;
  idp_file *f = parse_str("long.idp", repeat("x = 1", " + 1", 3000, "\ny = 2\n"), &errors);
  assert_int_equal(errors, 1);
  assert_non_null(strstr(first_line(), "too deep"));
  /* Every node left in the tree is within the limit. */
  assert_true(top_attr(f, "x")->depth <= 1000);
}

static void recovery_garbage_does_not_crash(void **state) {
  (void)state;
  /* Random-ish punctuation: errors, never a crash, and a tree. */
  static const char *const inputs[] = {
      "}}}}]]])))",
      "{{{{[[[(((",
      "\"${\"${\"${",
      "<<\n<<-\n<<EOT",
      "a.b.c = 1\n",
      "x = {a = 1 b = 2}\n",
      "x = [1 2]\n",
      "x = f(1 2)\n",
      "x = a ? b\n",
      "x = \"${\n}\"\n",
      "x = <<EOT\n${\nEOT\n",
      "app \"a\" \"b\" \"c\" d.e f {\n",
      "= = =\n",
      "/* \"${ */ x = 1\n",
      "x = \"\\u{1F600}\"\n",
  };
  for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++) {
    unsigned errors = 0;
    idp_file *f = parse_str("g.idp", inputs[i], &errors);
    assert_non_null(f);
    if (i == 13) continue; /* a valid one among them */
    if (errors == 0) FAIL("no error for input %zu: %s", i, inputs[i]);
  }
}

int test_recovery(void) {
  const struct CMUnitTest tests[] = {
      FX_TEST(recovery_three_errors_keep_the_valid_blocks),
      FX_TEST(recovery_error_message_format),
      FX_TEST(recovery_missing_brace_at_eof_names_the_block),
      FX_TEST(recovery_missing_braces_nested_report_once),
      FX_TEST(recovery_unclosed_paren_closed_by_brace),
      FX_TEST(recovery_unterminated_string_in_block),
      FX_TEST(recovery_unterminated_interpolation),
      FX_TEST(recovery_missing_value_and_reserved_word),
      FX_TEST(recovery_errors_accumulate_across_files),
      FX_TEST(recovery_bracket_nesting_limit),
      FX_TEST(recovery_block_nesting_limit),
      FX_TEST(recovery_interpolation_nesting_limit),
      FX_TEST(recovery_closed_deep_nesting_is_limited_too),
      FX_TEST(recovery_just_under_the_limit_parses),
      FX_TEST(recovery_deep_unary_chain_reports_once),
      FX_TEST(recovery_very_deep_unary_chain_exhausts_parser_once),
      FX_TEST(recovery_long_flat_sum_is_bounded),
      FX_TEST(recovery_garbage_does_not_crash),
  };
  return cmocka_run_group_tests_name("recovery", tests, NULL, NULL);
}
