/* unit.h - the unit test groups (one per test_*.c file) and the fixture they share.
 *
 * Each group runs its cmocka tests and returns the number that failed; unit_main.c runs them all.
 * Everything a test allocates goes through the fixture (support.c), whose teardown frees it even
 * when the test fails, so the sanitized run reports no leak from a failing assertion. */
#ifndef IDP_UNIT_H
#define IDP_UNIT_H

/* cmocka needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>

#include "arena.h"
#include "ast.h"
#include "diag.h"
#include "parse.h"
#include "source.h"

int test_util(void);
int test_arena(void);
int test_source(void);
int test_diag(void);
int test_lexer(void);
int test_parser(void);
int test_recovery(void);
int test_validate(void);
int test_stream(void);
int test_baseline(void);
int test_value(void);   /* tests/unit/test_value.c: values, evaluation, functions */
int test_drivers(void); /* tests/unit/test_drivers.c: driver schemas */
int test_state(void);   /* tests/unit/test_state.c: the state store */
int test_spec(void);    /* tests/unit/test_spec.c: the spec model, matching, checks across blocks */
int test_instance(void); /* tests/unit/test_instance.c: instantiation and the dependency graph */
int test_check(void);    /* tests/unit/test_check.c: checks after instantiation (types, integrations, secrets) */
int test_registry(void); /* tests/unit/test_registry.c: registry_image()'s resolver (runtime/registry.h) */
int test_http(void);     /* tests/unit/test_http.c: the HTTP client (runtime/http.h) against a local server */
int test_runs(void);     /* tests/unit/test_runs.c: pipeline run records (runtime/runs.h) */

/* --- fixture (support.c) ----------------------------------------------------------------- */

enum { FX_MAX_SOURCES = 16 };

typedef struct fx {
  idp_arena arena;                     /* trees and test scratch */
  idp_diags diags;                     /* every diagnostic of the test */
  idp_diags diags2;                    /* a second set, to compare two ways of doing the same */
  idp_source *srcs[FX_MAX_SOURCES];    /* sources made by the test, freed in teardown */
  size_t nsrcs;
} fx;

extern fx *F;

int fx_setup(void **state);
int fx_teardown(void **state);
/* A cmocka test with the fixture. */
#define FX_TEST(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

/* Fails the test with a formatted message. The message goes through cmocka's own error buffer,
 * so it is printed with the test's `not ok` line (print_error and fail_msg go to stderr at once). */
void unit_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define FAIL(...) unit_fail(__FILE__, __LINE__, __VA_ARGS__)

/* A source owned by the fixture. */
idp_source *fx_source(const char *path, const char *text);
/* Parses text (named path) and returns the tree; *errors gets the count (may be NULL). */
idp_file *parse_str(const char *path, const char *text, unsigned *errors);
/* Parses text, failing the test (with the diagnostics printed) if it reports any error. */
idp_file *parse_ok(const char *text);
/* Token count of text through idp_scan_only; *errors gets the errors it reported (may be NULL). */
size_t scan_count(const char *text, unsigned *errors);
/* Prints the fixture's diagnostics (or d) and returns the text (an arena copy). */
const char *diags_text(void);
const char *diags_text_of(idp_diags *d);
/* Fails the test, printing the diagnostics, unless exactly n errors were reported. */
void expect_errors(unsigned n);

/* The value of the top-level attribute `name` (fails if absent). */
idp_expr *top_attr(idp_file *f, const char *name);
/* The i-th item of a body (fails if absent). */
idp_item *body_item(const idp_body *b, size_t i);
/* The value of attribute `name` in a body (fails if absent). */
idp_expr *body_attr(const idp_body *b, const char *name);
/* The i-th element of a list of expressions linked through next. */
idp_expr *nth_expr(idp_expr *e, size_t i);
/* The source text a location covers (arena copy). */
const char *loc_text(const idp_source *src, idp_loc loc);
/* Asserts loc covers exactly `want` in src. */
#define assert_loc_text(src, loc, want) assert_string_equal(loc_text((src), (loc)), (want))

/* Asserts e is a REF to name, or a NUMBER of value v, or a BINARY with op. */
void assert_ref(const idp_expr *e, const char *name);
void assert_number(const idp_expr *e, double v);
void assert_binary(const idp_expr *e, idp_op op);
/* Asserts e is a string template of one literal part equal to s[0..n). */
void assert_plain_string(const idp_expr *e, const char *s, size_t n);
#define assert_plain(e, lit) assert_plain_string((e), (lit), sizeof(lit) - 1)

#endif
