/* test_validate.c - structural checks: block kinds and places, labels, names, duplicates across files. */
#include "unit.h"

#include <string.h>

#include "schema.h"
#include "validate.h"

/* Parses each text as its own file (a.idp, b.idp, ...) and validates them together; returns the
 * errors validation reported. Parse errors fail the test. */
static unsigned validate_texts(const char *const *texts, size_t n) {
  idp_file *files[8];
  assert_true(n <= 8);
  for (size_t i = 0; i < n; i++) {
    char path[16];
    snprintf(path, sizeof path, "%c.idp", (char)('a' + i));
    files[i] = parse_str(path, texts[i], NULL);
  }
  expect_errors(0);
  unsigned before = F->diags.errors;
  unsigned n_err = idp_validate(files, n, &F->diags);
  assert_int_equal(n_err, F->diags.errors - before);
  return n_err;
}

static unsigned validate_one(const char *text) { return validate_texts(&text, 1); }

static void assert_output_has(const char *want) {
  const char *out = diags_text();
  if (!strstr(out, want)) FAIL("output lacks '%s':\n%s", want, out);
}

static void validate_valid_spec_passes(void **state) {
  (void)state;
  unsigned n = validate_one("integration powerdns \"corp-dns\" {\n  api = \"http://x\"\n}\n"
                            "env_type development {\n  replicas = 1\n}\n"
                            "env \"dev\" { type = \"development\" }\n"
                            "provide postgres \"shared\" {\n"
                            "  match { env_type = \"development\" }\n"
                            "  resource random.password \"pw\" {\n    length = 24\n  }\n"
                            "  resource postgres.role \"owner\" {\n    password = resource.pw.value\n"
                            "    lifecycle { prevent_destroy = true }\n  }\n"
                            "  outputs {\n    password = resource.pw.value\n  }\n"
                            "}\n"
                            "resource powerdns.zone \"dev-zone\" {\n  name = \"dev.example.test.\"\n}\n"
                            "app \"shop\" {\n  port = 8080\n  need \"db\" { type = \"postgres\" }\n"
                            "  variables {\n    DB = need.db.host\n  }\n}\n"
                            "pipeline \"rel\" {\n  trigger \"image_push\" { tag = \"v*\" }\n"
                            "  stage \"dev\" {\n    deploy { app = \"shop\" }\n    approval { approvers = 1 }\n"
                            "    check \"http\" {}\n    wait {}\n    wait {}\n  }\n}\n"
                            "var \"region\" { default = \"eu\" }\n"
                            "output \"url\" { value = 1 }\n"
                            "use \"lib\" { source = \"./lib\" }\n");
  if (n) FAIL("valid spec rejected:\n%s", diags_text());
  assert_int_equal(F->diags.n, 0);
}

static void validate_unknown_top_level_kind_with_hint(void **state) {
  (void)state;
  assert_int_equal(validate_one("integraton powerdns \"corp-dns\" {}\n"), 1);
  assert_string_equal(diags_text(),
                      "a.idp:1:1: error: unknown block kind 'integraton'\n"
                      " 1 | integraton powerdns \"corp-dns\" {}\n"
                      "   | ^~~~~~~~~~\n"
                      "hint: did you mean 'integration'?\n");
}

static void validate_unknown_kind_without_close_match_lists_kinds(void **state) {
  (void)state;
  assert_int_equal(validate_one("kubernetes \"x\" {}\n"), 1);
  assert_output_has("error: unknown block kind 'kubernetes'\n");
  assert_output_has("hint: expected one of: integration, env_type, env, provide, resource, app, pipeline");
}

static void validate_unknown_nested_kind(void **state) {
  (void)state;
  assert_int_equal(validate_one("app \"shop\" {\n  nede \"db\" {}\n}\n"), 1);
  assert_output_has("a.idp:2:3: error: unknown block kind 'nede' in 'app'\n");
  assert_output_has("hint: did you mean 'need'?\n");
}

static void validate_block_inside_leaf_block(void **state) {
  (void)state;
  assert_int_equal(validate_one("env \"dev\" {\n  tags {}\n}\n"), 1);
  assert_output_has("a.idp:2:3: error: 'env' takes no blocks, found 'tags'\n");
  assert_output_has("hint: set it as an attribute: tags = ...\n");
}

static void validate_duplicate_across_two_files(void **state) {
  (void)state;
  const char *texts[] = {"env \"dev\" { type = \"development\" }\n",
                         "env \"staging\" {}\n\nenv \"dev\" { type = \"development\" }\n"};
  assert_int_equal(validate_texts(texts, 2), 1);
  assert_string_equal(diags_text(),
                      "b.idp:3:1: error: duplicate env 'dev'\n"
                      " 3 | env \"dev\" { type = \"development\" }\n"
                      "   | ^~~\n"
                      "a.idp:1:1: note: declared first here\n"
                      " 1 | env \"dev\" { type = \"development\" }\n"
                      "   | ^~~\n");
}

static void validate_same_name_in_different_kinds_or_scopes_is_fine(void **state) {
  (void)state;
  /* An env and an app may share a name; two apps may each have a need "db"; two provides may
   * each have a resource "pw". */
  const char *texts[] = {"env \"shop\" {}\napp \"shop\" {\n  need \"db\" {}\n}\n",
                         "app \"billing\" {\n  need \"db\" {}\n}\n"
                         "provide postgres \"a\" {\n  resource random.password \"pw\" {}\n}\n"
                         "provide postgres \"b\" {\n  resource random.password \"pw\" {}\n}\n"};
  unsigned n = validate_texts(texts, 2);
  if (n) FAIL("rejected:\n%s", diags_text());
}

static void validate_duplicate_unnamed_pairs_and_once_blocks(void **state) {
  (void)state;
  assert_int_equal(validate_one("provide postgres \"a\" {\n  match {}\n  match {}\n}\n"
                                "provide postgres \"a\" {}\n"
                                "integration powerdns \"x\" {}\nintegration postgres \"x\" {}\n"),
                   3);
  assert_output_has("a.idp:3:3: error: 'match' may appear only once in 'provide'\n");
  assert_output_has("a.idp:5:1: error: duplicate provide 'postgres \"a\"'\n");
  assert_output_has("a.idp:7:1: error: duplicate integration 'x'\n");
}

static void validate_attribute_set_twice(void **state) {
  (void)state;
  assert_int_equal(validate_one("app \"a\" {\n  port = 1\n  port = 2\n}\napp \"b\" {\n  port = 1\n}\n"), 1);
  assert_output_has("a.idp:3:3: error: attribute 'port' is set twice in 'app'\n");
  assert_output_has("a.idp:2:3: note: set first here\n");
}

static void validate_attribute_outside_blocks(void **state) {
  (void)state;
  assert_int_equal(validate_one("region = \"eu\"\n"), 1);
  assert_output_has("a.idp:1:1: error: attribute 'region' outside of any block\n");
  assert_output_has("hint: declare a variable instead: var \"region\" { default = ... }\n");
}

static void validate_label_count(void **state) {
  (void)state;
  assert_int_equal(validate_one("env {}\n"
                                "app \"a\" \"b\" {}\n"
                                "integration \"x\" {}\n"
                                "app \"c\" {\n  variables \"v\" {}\n}\n"),
                   4);
  assert_output_has("a.idp:1:1: error: 'env' takes 1 label, found 0\n");
  assert_output_has("hint: write it as: env \"name\" { ... }\n");
  /* Too many: pointed at the first extra label. */
  assert_output_has("a.idp:2:9: error: 'app' takes 1 label, found 2\n");
  assert_output_has("a.idp:3:1: error: 'integration' takes 2 labels, found 1\n");
  assert_output_has("a.idp:5:13: error: 'variables' takes no labels, found 1\n");
}

static void validate_dotted_labels(void **state) {
  (void)state;
  assert_int_equal(validate_one("resource powerdns \"z\" {}\n"
                                "provide dns \"d\" {\n  resource \"pw\" \"x\" {}\n}\n"
                                "integration powerdns.x \"y\" {}\n"),
                   3);
  assert_output_has("a.idp:1:10: error: 'resource' needs DRIVER.KIND as its first label, found 'powerdns'\n");
  assert_output_has("a.idp:3:12: error: 'resource' needs DRIVER.KIND as its first label, found 'pw'\n");
  assert_output_has("a.idp:5:13: error: unexpected dotted label 'powerdns.x'\n");
}

static void validate_invalid_names(void **state) {
  (void)state;
  assert_int_equal(validate_one("env \"Dev\" {}\n"
                                "app \"my_app\" {}\n"
                                "app \"1st\" {}\n"
                                "app \"abcdefghijabcdefghijabcdefghijk\" {}\n"
                                "app \"ok\" {\n  need \"db-\" {}\n  need \"Db\" {}\n}\n"
                                "env \"\" {}\n"),
                   6);
  assert_output_has("a.idp:1:5: error: invalid env name 'Dev'\n");
  assert_output_has("hint: names are 1 to 30 lowercase letters");
  assert_output_has("a.idp:2:5: error: invalid app name 'my_app'\n");
  assert_output_has("a.idp:3:5: error: invalid app name '1st'\n");
  assert_output_has("a.idp:4:5: error: invalid app name 'abcdefghijabcdefghijabcdefghijk'\n");
  assert_output_has("a.idp:7:8: error: invalid need name 'Db'\n");
  assert_output_has("a.idp:9:5: error: a label cannot be empty\n");
}

static void validate_name_rule(void **state) {
  (void)state;
  assert_true(idp_schema_valid_name("a"));
  assert_true(idp_schema_valid_name("shop"));
  assert_true(idp_schema_valid_name("shared-pg"));
  assert_true(idp_schema_valid_name("a1-b2"));
  assert_true(idp_schema_valid_name("abcdefghijabcdefghijabcdefghij")); /* 30 */
  assert_false(idp_schema_valid_name("abcdefghijabcdefghijabcdefghijk")); /* 31 */
  assert_false(idp_schema_valid_name(""));
  assert_false(idp_schema_valid_name("Shop"));
  assert_false(idp_schema_valid_name("-a"));
  assert_false(idp_schema_valid_name("9a"));
  assert_false(idp_schema_valid_name("a_b"));
  assert_false(idp_schema_valid_name("a.b"));
  assert_false(idp_schema_valid_name("caf\xC3\xA9"));
}

static void validate_variables_names_are_free(void **state) {
  (void)state;
  /* Attribute names in variables {} are the user's (any case); a repeat is still an error. */
  assert_int_equal(validate_one("app \"a\" {\n  variables {\n    DB_HOST = 1\n    db_host = 2\n"
                                "    DB_HOST = 3\n  }\n}\n"),
                   1);
  assert_output_has("a.idp:5:5: error: attribute 'DB_HOST' is set twice in 'variables'\n");
}

static void validate_reports_every_error_not_just_the_first(void **state) {
  (void)state;
  const char *texts[] = {"bogus {}\nenv {}\n", "app \"X\" {}\nintegraton a \"b\" {}\n"};
  assert_int_equal(validate_texts(texts, 2), 4);
  const char *out = diags_text();
  /* Sorted by file, then place. */
  const char *a1 = strstr(out, "a.idp:1:1:"), *a2 = strstr(out, "a.idp:2:1:");
  const char *b1 = strstr(out, "b.idp:1:5:"), *b2 = strstr(out, "b.idp:2:1:");
  assert_non_null(a1);
  assert_non_null(a2);
  assert_non_null(b1);
  assert_non_null(b2);
  assert_true(a1 < a2 && a2 < b1 && b1 < b2);
}

int test_validate(void) {
  const struct CMUnitTest tests[] = {
      FX_TEST(validate_valid_spec_passes),
      FX_TEST(validate_unknown_top_level_kind_with_hint),
      FX_TEST(validate_unknown_kind_without_close_match_lists_kinds),
      FX_TEST(validate_unknown_nested_kind),
      FX_TEST(validate_block_inside_leaf_block),
      FX_TEST(validate_duplicate_across_two_files),
      FX_TEST(validate_same_name_in_different_kinds_or_scopes_is_fine),
      FX_TEST(validate_duplicate_unnamed_pairs_and_once_blocks),
      FX_TEST(validate_attribute_set_twice),
      FX_TEST(validate_attribute_outside_blocks),
      FX_TEST(validate_label_count),
      FX_TEST(validate_dotted_labels),
      FX_TEST(validate_invalid_names),
      FX_TEST(validate_name_rule),
      FX_TEST(validate_variables_names_are_free),
      FX_TEST(validate_reports_every_error_not_just_the_first),
  };
  return cmocka_run_group_tests_name("validate", tests, NULL, NULL);
}
