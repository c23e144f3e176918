#!/usr/bin/env bash
# tests/cli/run.sh IDP_BINARY - the command line's behaviour: help, version, usage errors, exit
# statuses, where output goes, and `idp validate` on files, folders and the design baseline.
#
# Prints one TAP-style line per check, `ok - NAME` or `not ok - NAME` followed by indented detail
# (what was run, its exit status, stdout and stderr). Exits 0 even when checks fail: tests/run.sh
# counts the lines. The baseline specs are looked up in the `shared` folder next to the repo
# (override with IDP_BASELINE); when absent that check is reported as skipped.
set -u

if [ $# -lt 1 ]; then
  echo "usage: $0 IDP_BINARY" >&2
  exit 2
fi
idp=$1
case $idp in /*) ;; *) idp="$PWD/$idp" ;; esac
if [ ! -x "$idp" ]; then
  echo "not ok - cli setup: $idp is not an executable"
  exit 0
fi
here=$(cd "$(dirname "$0")" && pwd)
baseline=${IDP_BASELINE:-$here/../../../shared/design/baseline}
export LC_ALL=C
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
timeout_s=20

# run [-C DIR] ARGS...: runs idp, leaving $out, $err and $rc.
run() {
  local dir=$PWD
  if [ "${1:-}" = "-C" ]; then
    dir=$2
    shift 2
  fi
  last_cmd="(cd $dir && idp $*)"
  { (cd "$dir" && timeout -k 5 "$timeout_s" "$idp" "$@") >"$tmp/out" 2>"$tmp/err" </dev/null; } 2>/dev/null
  rc=$?
  out=$(cat "$tmp/out")
  err=$(cat "$tmp/err")
}

# check NAME COND_DESCRIPTION... : each failed expectation adds to $why; report prints the line.
why=()
expect_rc() { [ "$rc" -eq "$1" ] || why+=("exit status $rc, want $1"); }
expect_out_has() { grep -qF -- "$1" <<<"$out" || why+=("stdout lacks: $1"); }
expect_err_has() { grep -qF -- "$1" <<<"$err" || why+=("stderr lacks: $1"); }
expect_out_empty() { [ -z "$out" ] || why+=("stdout should be empty"); }
expect_err_empty() { [ -z "$err" ] || why+=("stderr should be empty"); }
expect_out_is() { [ "$out" = "$1" ] || why+=("stdout should be exactly: $1"); }
expect_out_starts() { case $out in "$1"*) ;; *) why+=("stdout should start with: $1") ;; esac; }
expect_err_starts() { case $err in "$1"*) ;; *) why+=("stderr should start with: $1") ;; esac; }
expect_same() { [ "$1" = "$2" ] || why+=("$3"); }

report() { # report NAME
  local bad=("${why[@]}")
  case $rc in
    0 | 1 | 2) ;;
    99) bad+=("sanitizer report (exit 99)") ;;
    124 | 137) bad+=("timed out after ${timeout_s}s") ;;
    *) [ "$rc" -gt 128 ] && bad+=("killed by signal $((rc - 128))") ;;
  esac
  if [ ${#bad[@]} -eq 0 ]; then
    echo "ok - $1"
  else
    echo "not ok - $1"
    printf '  # %s\n' "${bad[@]}"
    echo "  # ran: $last_cmd  -> exit $rc"
    [ -n "$out" ] && { echo "  # stdout:"; sed 's/^/  /' <<<"$out"; }
    [ -n "$err" ] && { echo "  # stderr:"; sed 's/^/  /' <<<"$err"; }
  fi
  why=()
}

# --- version and help ----------------------------------------------------------------------------
run version
expect_rc 0
expect_out_starts "idp "
[ "$(wc -l <<<"$out")" -eq 1 ] || why+=("want one line")
[ "${#out}" -gt 4 ] || why+=("the version after 'idp ' is empty")
expect_err_empty
report "version prints 'idp VERSION' and exits 0"
version_out=$out

for f in -version --version; do
  run "$f"
  expect_rc 0
  expect_same "$out" "$version_out" "'idp $f' should print what 'idp version' prints"
  report "'idp $f' is 'idp version'"
done

run help
expect_rc 0
for c in validate fmt version help; do
  grep -qE "^  $c( |$)" <<<"$out" || why+=("the command list lacks '$c'")
done
expect_out_starts "Usage: idp COMMAND"
expect_err_empty
report "help lists the commands on stdout, exit 0"
help_out=$out

for f in -help --help -h; do
  run "$f"
  expect_rc 0
  expect_same "$out" "$help_out" "'idp $f' should print what 'idp help' prints"
  report "'idp $f' is 'idp help'"
done

run
expect_rc 2
expect_out_empty
expect_err_has "Usage: idp COMMAND"
report "no command: usage on stderr, exit 2"

run help validate
expect_rc 0
expect_out_starts "Usage: idp validate"
expect_out_has "Exit status"
expect_err_empty
report "'idp help validate' prints the usage of validate"
help_validate=$out

for f in -help --help -h --h; do
  run validate "$f"
  expect_rc 0
  expect_same "$out" "$help_validate" "'idp validate $f' should print what 'idp help validate' prints"
  expect_err_empty
  report "'idp validate $f' prints the usage of validate"
done

run validate some/path --help
expect_rc 0
expect_same "$out" "$help_validate" "a help flag after a path should print the usage too"
report "'idp validate PATH --help' prints the usage"

run help fmt
help_fmt=$out
for f in -help --help; do
  run fmt "$f"
  expect_rc 0
  expect_same "$out" "$help_fmt" "'idp fmt $f' should print what 'idp help fmt' prints"
  report "'idp fmt $f' prints the usage of fmt"
done

run help valdate
expect_rc 2
expect_out_empty
expect_err_has "unknown command 'valdate'"
report "'idp help UNKNOWN' is an error, exit 2"

# --- unknown commands and flags --------------------------------------------------------------------
run valdate
expect_rc 2
expect_out_empty
expect_err_has "error: unknown command 'valdate'"
expect_err_has "hint: did you mean 'idp validate'?"
report "unknown command with a did-you-mean hint, exit 2"

run xyzzy
expect_rc 2
expect_out_empty
expect_err_has "error: unknown command 'xyzzy'"
expect_err_has "hint: run 'idp help'"
report "unknown command without a close match points to 'idp help', exit 2"

run --frobnicate
expect_rc 2
expect_out_empty
grep -q "error: " <<<"$err" || why+=("stderr lacks an error line")
report "unknown flag in place of a command is an error, exit 2"

run validate -frobnicate
expect_rc 2
expect_out_empty
expect_err_has "idp validate: error: unknown flag '-frobnicate'"
expect_err_has "hint: "
report "unknown flag of validate: error and hint, exit 2"

run validate --hepl
expect_rc 2
expect_out_empty
expect_err_has "error: unknown flag '--hepl'"
expect_err_has "hint: did you mean '-help'?"
report "misspelt flag gets a did-you-mean hint, exit 2"
err_two=$err
run validate -hepl
expect_rc 2
expect_same "${err//-hepl/X}" "${err_two//--hepl/X}" "'-hepl' and '--hepl' should be reported alike"
report "one dash or two: an unknown flag is reported alike"

run validate -frobnicate "$baseline"
expect_rc 2
expect_out_empty
report "an unknown flag stops validate before it reads any file"

# --- validate: paths -------------------------------------------------------------------------------
run validate "$tmp/no-such-dir/spec.idp"
expect_rc 1
expect_out_empty
expect_err_has "$tmp/no-such-dir/spec.idp"
expect_err_has "error"
report "validate on a missing path names it, exit 1"

mkdir -p "$tmp/empty"
run validate "$tmp/empty"
expect_rc 1
expect_out_empty
expect_err_has "no .idp files in $tmp/empty"
report "validate on a folder without .idp files says so, exit 1"

run -C "$tmp/empty" validate
expect_rc 1
expect_out_empty
expect_err_has "no .idp files in ."
report "validate with no argument in a folder without .idp files says so, exit 1"

mkdir -p "$tmp/mixed/sub"
printf 'app "shop" {\n  port = 8080\n}\n' >"$tmp/mixed/shop.idp"
printf 'env "dev" {\n  type = "development"\n}\n' >"$tmp/mixed/dev.idp"
printf 'not a spec {{{\n' >"$tmp/mixed/notes.txt"
printf 'broken {{{\n' >"$tmp/mixed/.hidden.idp"
printf 'broken {{{\n' >"$tmp/mixed/sub/nested.idp"
run validate "$tmp/mixed"
expect_rc 0
expect_out_is "2 files, 2 blocks: valid"
expect_err_empty
report "validate DIR takes the folder's .idp files only: not other files, hidden files or subfolders"

run -C "$tmp/mixed" validate
expect_rc 0
expect_out_is "2 files, 2 blocks: valid"
report "validate with no argument takes the current folder"

run validate "$tmp/mixed/shop.idp"
expect_rc 0
expect_out_is "1 file, 1 block: valid"
expect_err_empty
report "validate FILE: singular counts"

mkdir -p "$tmp/bad"
printf 'app "shop" {\n  port = 8080 @\n}\n' >"$tmp/bad/shop.idp"
run -C "$tmp" validate bad/
expect_rc 1
expect_out_empty
expect_err_starts "bad/shop.idp:2:15: error: "
expect_err_has "1 error"
report "errors go to stderr as PATH:LINE:COL, the path as given (no doubled '/'), exit 1"

printf 'app "billing" {\n  port = 9090\n}\n' >"$tmp/billing.idp"
run -C "$tmp" validate mixed billing.idp
expect_rc 0
expect_out_is "3 files, 3 blocks: valid"
report "validate takes several paths, folders and files mixed"

# --- the design baseline ---------------------------------------------------------------------------
if [ -d "$baseline" ]; then
  run validate "$baseline"
  expect_rc 0
  expect_out_is "4 files, 20 blocks: valid"
  expect_err_empty
  report "the design baseline validates: 4 files, 20 blocks"

  run -C "$baseline" validate
  expect_rc 0
  expect_out_is "4 files, 20 blocks: valid"
  report "the design baseline validates from inside its folder"

else
  echo "ok - the design baseline validates # SKIP no baseline at $baseline"
fi
exit 0
