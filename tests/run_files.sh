#!/usr/bin/env bash
# tests/run_files.sh DIR BUILD_DIR - runs every test file DIR/*.sh (but run.sh and lib.sh), each
# taking BUILD_DIR, in turn and passes their TAP-style lines on. A test file that exits non-zero
# without naming a failing test gets a `not ok` line of its own, so tests/run.sh counts it. The
# drivers and k8s suites are run this way.
set -u

if [ $# -ne 2 ]; then
  echo "usage: $0 DIR BUILD_DIR" >&2
  exit 2
fi
status=0
for t in "$1"/*.sh; do
  case $(basename "$t") in run.sh | lib.sh) continue ;; esac
  out=$(bash "$t" "$2" 2>&1)
  rc=$?
  printf '%s\n' "$out"
  if [ "$rc" -ne 0 ] && ! grep -q '^not ok ' <<<"$out"; then
    echo "not ok - $(basename "$t" .sh): exited $rc"
    status=1
  fi
done
exit $status
