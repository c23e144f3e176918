# tests/drivers/lib.sh - what the driver test scripts share; source it with the script's name and
# arguments: `. "$(dirname "$0")/lib.sh" NAME "$@" || exit 0`. It checks the one argument
# (BUILD_DIR; exit 2 on bad usage), sets build, drvcall (BUILD_DIR/drvcall), here (the script's
# folder) and LC_ALL=C, defines ok NAME and bad NAME DETAIL... (TAP lines prefixed "NAME: ",
# detail indented), and returns 1 after a `not ok` when drvcall is not built.
# shellcheck shell=bash
drv_name=$1
shift
if [ $# -ne 1 ]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
build=$1
case $build in /*) ;; *) build="$PWD/$build" ;; esac
drvcall="$build/drvcall"
here=$(cd "$(dirname "$0")" && pwd)
export LC_ALL=C

ok() { echo "ok - $drv_name: $1"; }
bad() {
  echo "not ok - $drv_name: $1"
  shift
  for l in "$@"; do printf '%s\n' "$l" | sed 's/^/  /'; done
}

if [ ! -x "$drvcall" ]; then
  bad "setup" "$drvcall is not an executable (make test builds it)"
  return 1
fi
