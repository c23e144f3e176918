# tests/suite.sh - what the suites run against an idp binary share (apply, serve, pipeline, release,
# ci, plan, cli); source it with the suite's name and arguments, before anything else:
# `. "$(dirname "$0")/../suite.sh" NAME "$@" || exit 0`. It checks the arguments (IDP_BINARY
# first; exit 2 on bad usage), sets idp (made absolute), here (the suite's folder), root (the
# repository), LC_ALL=C and tmp (a new directory idp-NAME.XXXXXX in TMPDIR or /tmp: the suite's
# own EXIT trap removes it), defines ok NAME and bad NAME DETAIL... (TAP lines prefixed "NAME: ",
# each line of the detail indented) and fail / check below, and returns 1 after a `not ok` when
# idp is not an executable (nothing made yet, no tmp). ci and plan, whose names carry no prefix,
# define their own ok and bad after it.
# shellcheck shell=bash disable=SC2034 # here, root and tmp are for the suite
suite_name=$1
shift
if [ $# -lt 1 ]; then
  echo "usage: $0 IDP_BINARY" >&2
  exit 2
fi
idp=$1
case $idp in /*) ;; *) idp="$PWD/$idp" ;; esac
if [ ! -x "$idp" ]; then
  echo "not ok - $suite_name: setup: $idp is not an executable"
  return 1
fi
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export LC_ALL=C
tmp=$(mktemp -d "${TMPDIR:-/tmp}/idp-$suite_name.XXXXXX")

ok() { echo "ok - $suite_name: $1"; }
bad() {
  echo "not ok - $suite_name: $1"
  shift
  for l in "$@"; do printf '%s\n' "$l" | sed 's/^/  /'; done
}
# check NAME: ok when no `fail` was recorded since the last check, else not ok with the details.
fails=()
fail() { fails+=("$@"); }
check() {
  if [ ${#fails[@]} -eq 0 ]; then ok "$1"; else bad "$1" "${fails[@]}"; fi
  fails=()
}
