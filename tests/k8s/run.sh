#!/usr/bin/env bash
# tests/k8s/run.sh BUILD_DIR - the Kubernetes tests against the fake API server (fakeapi.c; see
# README.md): runs every test file tests/k8s/*.sh but run.sh and lib.sh (each taking BUILD_DIR) in
# turn and passes their TAP-style lines on. A test file that exits non-zero without naming a
# failing test gets a `not ok` line of its own, so tests/run.sh counts it.
set -u

if [ $# -ne 1 ]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
status=0
for t in "$here"/*.sh; do
  case $(basename "$t") in run.sh | lib.sh) continue ;; esac
  out=$(bash "$t" "$1" 2>&1)
  rc=$?
  printf '%s\n' "$out"
  if [ "$rc" -ne 0 ] && ! grep -q '^not ok ' <<<"$out"; then
    echo "not ok - $(basename "$t" .sh): exited $rc"
    status=1
  fi
done
exit $status
