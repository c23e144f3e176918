#!/usr/bin/env bash
# tests/run.sh BUILD_DIR... - runs every test suite against the binaries of each build directory
# (the plain build, then the ASan+UBSan one) and ends with `tests: N passed, N failed`.
#
# Each suite prints TAP-style lines, `ok - NAME` or `not ok - NAME` followed by indented detail;
# this script tags them with the build and counts them. A suite that crashes or prints nothing
# (no test passed, failed or skipped) counts as a failure.
set -u
cd "$(dirname "$0")/.."

pass=0
fail=0
skip=0
failed=()

run_suite() { # run_suite TAG CMD...
  local tag=$1
  shift
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  local n_ok n_bad n_skip
  # A skipped test (`ok - x # SKIP why`, or cmocka's `not ok N # SKIP`) is neither passed nor failed.
  n_skip=$(grep -cE '^(not )?ok .*# SKIP' <<<"$out")
  n_ok=$(grep '^ok ' <<<"$out" | grep -vc '# SKIP')
  n_bad=$(grep '^not ok ' <<<"$out" | grep -vc '# SKIP')
  # Show failures with their detail (indented or `# ` lines after them), and a summary per suite.
  awk '/^not ok / && !/# SKIP/{p=1; print; next} /^(not )?ok /{p=0} p' <<<"$out" | sed "s|^|[$tag] |"
  while IFS= read -r line; do failed+=("[$tag] ${line#not ok - }"); done < <(grep '^not ok ' <<<"$out" | grep -v '# SKIP')
  if [ "$rc" -ne 0 ] && [ "$n_bad" -eq 0 ]; then
    echo "[$tag] suite exited $rc without naming a failing test:"
    tail -20 <<<"$out" | sed "s|^|[$tag]   |"
    n_bad=$((n_bad + 1))
    failed+=("[$tag] suite exit status $rc")
  fi
  if [ "$n_ok" -eq 0 ] && [ "$n_bad" -eq 0 ] && [ "$n_skip" -eq 0 ]; then
    echo "[$tag] suite ran no test"
    n_bad=1
    failed+=("[$tag] ran no test")
  fi
  printf '%-28s %4d passed, %d failed, %d skipped\n' "[$tag]" "$n_ok" "$n_bad" "$n_skip"
  pass=$((pass + n_ok))
  fail=$((fail + n_bad))
  skip=$((skip + n_skip))
}

for build in "$@"; do
  case $build in /*) ;; *) build="$PWD/$build" ;; esac
  name=plain
  case $build in *san*) name=asan+ubsan ;; esac
  export IDP="$build/idp"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=99
  run_suite "$name unit" env CMOCKA_MESSAGE_OUTPUT=TAP "$build/unit_tests"
  run_suite "$name golden" tests/golden/run.sh "$IDP"
  run_suite "$name fmt" tests/fmt/run.sh "$IDP"
  run_suite "$name cli" tests/cli/run.sh "$IDP"
  run_suite "$name plan" tests/plan/run.sh "$IDP"
  run_suite "$name ci" tests/ci/run.sh "$IDP"
  run_suite "$name apply" tests/apply/run.sh "$IDP"
  run_suite "$name serve" tests/serve/run.sh "$IDP"
  run_suite "$name pipeline" tests/pipeline/run.sh "$IDP"
  run_suite "$name release" tests/release/run.sh "$IDP"
  run_suite "$name drivers" tests/drivers/run.sh "$build"
  run_suite "$name k8s" tests/k8s/run.sh "$build"
  run_suite "$name fuzz-replay" tests/fuzz/replay.sh "$build/fuzz_replay"
  run_suite "$name stress" tests/stress/run.sh "$IDP"
done

if [ "$fail" -gt 0 ]; then
  echo
  echo "Failed:"
  printf '  %s\n' "${failed[@]}"
fi
echo "tests: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
