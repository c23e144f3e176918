/* unit_main.c - runs every unit test group; exits non-zero if any test failed.
 *
 * (Not main.c: the Makefile names objects by their base name only, so tests/unit/main.c would be
 * built as obj/main.o from cli/main.c.) Run with CMOCKA_MESSAGE_OUTPUT=TAP for `ok` lines. */
#include "unit.h"

int main(void) {
  int failed = 0;
  failed += test_util();
  failed += test_arena();
  failed += test_source();
  failed += test_diag();
  failed += test_lexer();
  failed += test_parser();
  failed += test_recovery();
  failed += test_validate();
  failed += test_stream();
  failed += test_baseline();
  failed += test_value();
  failed += test_drivers();
  failed += test_state();
  failed += test_spec();
  failed += test_instance();
  failed += test_check();
  failed += test_registry();
  failed += test_http();
  failed += test_runs();
  return failed ? 1 : 0;
}
