/* test_util.c - edit distance, name suggestions, the byte buffer and file reading. */
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static void util_edit_distance_identical_and_empty(void **state) {
  (void)state;
  assert_int_equal(idp_edit_distance("integration", "integration", 3), 0);
  assert_int_equal(idp_edit_distance("", "", 3), 0);
  assert_int_equal(idp_edit_distance("", "abc", 5), 3);
  assert_int_equal(idp_edit_distance("abc", "", 5), 3);
}

static void util_edit_distance_insert_delete_substitute(void **state) {
  (void)state;
  assert_int_equal(idp_edit_distance("kitten", "sitting", 5), 3);
  assert_int_equal(idp_edit_distance("integraton", "integration", 3), 1); /* insertion */
  assert_int_equal(idp_edit_distance("integrations", "integration", 3), 1); /* deletion */
  assert_int_equal(idp_edit_distance("app", "apt", 3), 1); /* substitution */
  /* Symmetric. */
  assert_int_equal(idp_edit_distance("sitting", "kitten", 5), 3);
}

static void util_edit_distance_transposition_costs_one(void **state) {
  (void)state;
  assert_int_equal(idp_edit_distance("evn", "env", 3), 1);
  assert_int_equal(idp_edit_distance("pipleine", "pipeline", 3), 1);
  assert_int_equal(idp_edit_distance("ab", "ba", 3), 1);
  /* Two separate swaps. */
  assert_int_equal(idp_edit_distance("baab", "abba", 5), 2);
  /* Optimal string alignment: a swapped pair is not edited again ("ca" -> "abc" is 3, not 2). */
  assert_int_equal(idp_edit_distance("ca", "abc", 5), 3);
}

static void util_edit_distance_capped_at_max_plus_one(void **state) {
  (void)state;
  assert_int_equal(idp_edit_distance("kitten", "sitting", 2), 3);
  assert_int_equal(idp_edit_distance("kitten", "sitting", 1), 2);
  assert_int_equal(idp_edit_distance("abc", "xyz", 1), 2);
  /* A length difference beyond max is enough to give up. */
  assert_int_equal(idp_edit_distance("a", "abcdefgh", 2), 3);
  /* Exactly max is not capped. */
  assert_int_equal(idp_edit_distance("kitten", "sitting", 3), 3);
  assert_int_equal(idp_edit_distance("abc", "xyz", 0), 1);
}

static const char *const kinds[] = {"integration", "env_type", "env",    "provide", "resource",
                                    "app",         "pipeline", "var",    "output",  "use"};
#define NKINDS (sizeof kinds / sizeof *kinds)

static void util_did_you_mean_finds_close_names(void **state) {
  (void)state;
  const char *s = idp_did_you_mean("integraton", kinds, NKINDS);
  assert_non_null(s);
  assert_string_equal(s, "integration");
  s = idp_did_you_mean("pipline", kinds, NKINDS);
  assert_non_null(s);
  assert_string_equal(s, "pipeline");
  s = idp_did_you_mean("evn", kinds, NKINDS);
  assert_non_null(s);
  assert_string_equal(s, "env");
  s = idp_did_you_mean("resorce", kinds, NKINDS);
  assert_non_null(s);
  assert_string_equal(s, "resource");
  s = idp_did_you_mean("env-type", kinds, NKINDS);
  assert_non_null(s);
  assert_string_equal(s, "env_type");
}

static void util_did_you_mean_none_for_unrelated_words(void **state) {
  (void)state;
  assert_null(idp_did_you_mean("zzzzzz", kinds, NKINDS));
  assert_null(idp_did_you_mean("kubernetes", kinds, NKINDS));
  assert_null(idp_did_you_mean("x", kinds, 0));
  /* Short words allow a single edit only: "abc" is 2 edits from "app". */
  assert_null(idp_did_you_mean("abc", kinds, NKINDS));
}

static void util_did_you_mean_prefers_the_closest(void **state) {
  (void)state;
  static const char *const c[] = {"output", "outputs"};
  const char *s = idp_did_you_mean("outputs", c, 2);
  assert_non_null(s);
  assert_string_equal(s, "outputs");
  s = idp_did_you_mean("outpt", c, 2);
  assert_non_null(s);
  assert_string_equal(s, "output");
}

static void util_buf_grows_and_stays_terminated(void **state) {
  (void)state;
  idp_buf b = {0};
  assert_string_equal(idp_buf_cstr(&b), "");
  for (int i = 0; i < 10000; i++) idp_buf_putc(&b, (char)('a' + i % 26));
  assert_int_equal(b.len, 10000);
  assert_true(b.cap > b.len);
  assert_int_equal(b.data[b.len], '\0');
  for (int i = 0; i < 10000; i++)
    if (b.data[i] != (char)('a' + i % 26)) FAIL("byte %d is wrong after growth", i);
  idp_buf_free(&b);
  assert_null(b.data);
  assert_int_equal(b.len, 0);
}

static void util_buf_append_puts_printf(void **state) {
  (void)state;
  idp_buf b = {0};
  idp_buf_append(&b, "abcdef", 3);
  idp_buf_puts(&b, "-");
  idp_buf_printf(&b, "%d:%s", 42, "x");
  idp_buf_append(&b, "ignored", 0);
  assert_int_equal(b.len, strlen("abc-42:x"));
  assert_string_equal(idp_buf_cstr(&b), "abc-42:x");
  /* A long printf forces a reallocation in the middle of formatting. */
  char big[5000];
  memset(big, 'z', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  idp_buf_printf(&b, "[%s]", big);
  assert_int_equal(b.len, strlen("abc-42:x") + 2 + 4999);
  assert_int_equal(b.data[b.len - 1], ']');
  assert_int_equal(b.data[b.len], '\0');
  assert_memory_equal(b.data, "abc-42:x[zz", 11);
  /* Binary data with embedded NULs is kept. */
  idp_buf_free(&b);
  idp_buf_append(&b, "a\0b", 3);
  assert_int_equal(b.len, 3);
  assert_memory_equal(b.data, "a\0b", 4);
  idp_buf_free(&b);
}

static void util_read_file_missing_sets_errno(void **state) {
  (void)state;
  char *data = (char *)&data;
  size_t len = 12345;
  errno = 0;
  assert_int_equal(idp_read_file("/nonexistent-idp-dir/none.idp", &data, &len), -1);
  assert_int_equal(errno, ENOENT);
  errno = 0;
  assert_null(idp_source_load("/nonexistent-idp-dir/none.idp"));
  assert_int_equal(errno, ENOENT);
}

static void util_read_file_directory_is_refused(void **state) {
  (void)state;
  char *data = NULL;
  size_t len = 0;
  errno = 0;
  assert_int_equal(idp_read_file("/tmp", &data, &len), -1);
  assert_int_equal(errno, EISDIR);
}

static void util_read_file_reads_all_bytes_with_two_nuls(void **state) {
  (void)state;
  char path[] = "/tmp/idp-unit-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  /* Larger than any first guess a reader might make, with a NUL in the middle. */
  size_t n = 100000;
  char *want = malloc(n);
  assert_non_null(want);
  for (size_t i = 0; i < n; i++) want[i] = (char)(i * 7 + 1);
  want[500] = '\0';
  ssize_t w = write(fd, want, n);
  close(fd);
  char *data = NULL;
  size_t len = 0;
  int rc = w == (ssize_t)n ? idp_read_file(path, &data, &len) : -2;
  unlink(path);
  if (rc != 0) free(want);
  assert_int_equal(rc, 0);
  bool same = len == n && memcmp(data, want, n) == 0 && data[n] == '\0' && data[n + 1] == '\0';
  free(want);
  free(data);
  assert_true(same);
}

static void util_read_file_empty_file(void **state) {
  (void)state;
  char path[] = "/tmp/idp-unit-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  idp_source *src = idp_source_load(path);
  unlink(path);
  assert_non_null(src);
  bool ok = src->len == 0 && src->text[0] == '\0' && src->text[1] == '\0' && strcmp(src->path, path) == 0;
  idp_source_free(src);
  assert_true(ok);
}

int test_util(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(util_edit_distance_identical_and_empty),
      cmocka_unit_test(util_edit_distance_insert_delete_substitute),
      cmocka_unit_test(util_edit_distance_transposition_costs_one),
      cmocka_unit_test(util_edit_distance_capped_at_max_plus_one),
      cmocka_unit_test(util_did_you_mean_finds_close_names),
      cmocka_unit_test(util_did_you_mean_none_for_unrelated_words),
      cmocka_unit_test(util_did_you_mean_prefers_the_closest),
      cmocka_unit_test(util_buf_grows_and_stays_terminated),
      cmocka_unit_test(util_buf_append_puts_printf),
      cmocka_unit_test(util_read_file_missing_sets_errno),
      cmocka_unit_test(util_read_file_directory_is_refused),
      cmocka_unit_test(util_read_file_reads_all_bytes_with_two_nuls),
      cmocka_unit_test(util_read_file_empty_file),
  };
  return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
