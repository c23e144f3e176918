#!/usr/bin/env bash
# tests/golden/run.sh [--update] IDP_BINARY [CASE...] - the golden tests of `idp validate`.
#
# A case is SUITE/NAME.out next to SUITE/NAME.idp (run as `idp validate NAME.idp`) or next to a
# folder SUITE/NAME/ of .idp files (run as `idp validate NAME`), always from inside SUITE/. The .out
# file holds the exact combined stdout+stderr, then a last line `exit: N`. Suites: syntax/ (specs
# with errors) and valid/ (specs that must validate).
#
# Prints one TAP-style line per case, `ok - SUITE/NAME` or `not ok - SUITE/NAME`, the latter followed
# by an indented unified diff (expected -> actual). Exits 0 even when cases fail: tests/run.sh
# counts the lines. An exit status other than 0 or 1 (a crash, a sanitizer report with exitcode=99,
# the per-case timeout) fails the case whatever the output.
#
# CASE arguments (SUITE/NAME) restrict the run. --update rewrites each .out from the actual output:
# for maintainers, after checking that the new output is what a user should see. A case that ends
# with a bad exit status is never written.
set -u

update=0
if [ "${1:-}" = "--update" ] || [ "${1:-}" = "-update" ]; then
  update=1
  shift
fi
if [ $# -lt 1 ]; then
  echo "usage: $0 [--update] IDP_BINARY [SUITE/NAME...]" >&2
  exit 2
fi
idp=$1
shift
case $idp in /*) ;; *) idp="$PWD/$idp" ;; esac
if [ ! -x "$idp" ]; then
  echo "not ok - golden setup: $idp is not an executable"
  exit 0
fi

here=$(cd "$(dirname "$0")" && pwd)
timeout_s=${IDP_GOLDEN_TIMEOUT:-20}
export LC_ALL=C
# `use` reads stdlib modules from the repository's stdlib/, named relative to SUITE/ so that the
# outputs do not depend on where the repository is.
export IDP_STDLIB=../../../stdlib
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Names the cases: SUITE/NAME for every .out, and for every .idp or folder that has none.
list_cases() {
  local suite f name
  for suite in syntax valid; do
    [ -d "$here/$suite" ] || continue
    for f in "$here/$suite"/*; do
      [ -e "$f" ] || continue
      name=$(basename "$f")
      case $name in
        *.out) echo "$suite/${name%.out}" ;;
        *.idp) [ -e "${f%.idp}.out" ] || echo "$suite/${name%.idp}" ;;
        *) [ -d "$f" ] && [ ! -e "$f.out" ] && echo "$suite/$name" ;;
      esac
    done
  done | sort -u
}

run_case() { # run_case SUITE/NAME
  local id=$1 suite=${1%%/*} name=${1#*/}
  local dir="$here/$suite" exp="$here/$1.out" act="$tmp/actual" arg rc note=""
  if [ -f "$dir/$name.idp" ]; then
    arg="$name.idp"
  elif [ -d "$dir/$name" ]; then
    arg="$name"
  else
    echo "not ok - $id"
    echo "  # no input: neither $suite/$name.idp nor the folder $suite/$name/"
    return
  fi
  # The outer braces keep bash's own "Segmentation fault" notice out of the TAP stream.
  { (cd "$dir" && timeout -k 5 "$timeout_s" "$idp" validate "$arg") >"$act" 2>&1 </dev/null; } 2>/dev/null
  rc=$?
  echo "exit: $rc" >>"$act"
  case $rc in
    0 | 1) ;;
    124 | 137) note="timed out after ${timeout_s}s (exit $rc)" ;;
    99) note="sanitizer report (exit 99)" ;;
    2) note="exit 2 (usage error): validate of a golden case must exit 0 or 1" ;;
    *)
      if [ "$rc" -gt 128 ]; then
        note="killed by signal $((rc - 128)) (exit $rc)"
      else
        note="unexpected exit status $rc"
      fi
      ;;
  esac

  if [ "$update" -eq 1 ]; then
    if [ -n "$note" ]; then
      echo "not ok - $id"
      echo "  # not updated: $note"
      sed 's/^/  /' "$act"
    elif [ -f "$exp" ] && cmp -s "$exp" "$act"; then
      echo "ok - $id"
    else
      cp "$act" "$exp"
      echo "ok - $id # updated"
    fi
    return
  fi

  if [ -z "$note" ] && [ -f "$exp" ] && cmp -s "$exp" "$act"; then
    echo "ok - $id"
    return
  fi
  echo "not ok - $id"
  [ -n "$note" ] && echo "  # $note"
  if [ ! -f "$exp" ]; then
    echo "  # no expected output $suite/$name.out; the actual output was:"
    sed 's/^/  /' "$act"
    return
  fi
  echo "  # diff expected actual  (reproduce: cd tests/golden/$suite && idp validate $arg)"
  diff -a -u --label "expected $id.out" --label "actual" "$exp" "$act" | sed 's/^/  /'
}

if [ $# -gt 0 ]; then
  cases=("$@")
else
  mapfile -t cases < <(list_cases)
fi
if [ ${#cases[@]} -eq 0 ]; then
  echo "not ok - golden: no cases found under $here"
  exit 0
fi
for c in "${cases[@]}"; do
  run_case "${c%.out}"
done
exit 0
