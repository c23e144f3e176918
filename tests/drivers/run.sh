#!/usr/bin/env bash
# tests/drivers/run.sh BUILD_DIR - the driver tests against real servers: runs every test file
# tests/drivers/*.sh (one per driver, each taking BUILD_DIR and using BUILD_DIR/drvcall) in turn
# and passes their TAP-style lines on. A test file that exits non-zero without naming a failing
# test gets a `not ok` line of its own, so tests/run.sh counts it.
set -u

if [ $# -ne 1 ]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../run_files.sh" "$here" "$1"
