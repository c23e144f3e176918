#!/usr/bin/env bash
# tests/drivers/random.sh BUILD_DIR - random.password's API code through BUILD_DIR/drvcall: the
# default length and [A-Za-z0-9] pool (decision 8), special / override_special / charset, every
# min_*, two creates differing, a rough uniformity check (rejection sampling, no modulo bias),
# the input errors, and read / update / delete keeping what the state holds. Needs python3 (to
# read the JSON answers); prints TAP-style lines.
set -u

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh" random "$@" || exit 0
if ! command -v python3 >/dev/null 2>&1; then
  bad "setup" "python3 is not installed (it reads drvcall's JSON answers)"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# call OP REQUEST: runs drvcall; leaves $out, $err and $rc.
call() {
  printf '%s' "$2" | timeout 30 "$drvcall" random.password "$1" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  out=$(cat "$tmp/out")
  err=$(cat "$tmp/err")
}
# value: the password of the last create
value() { python3 -c 'import json,sys; print(json.load(sys.stdin)["outputs"]["value"])' <<<"$out"; }
# check NAME PYTHON-EXPR: the last create succeeded and EXPR holds of its password v
check() {
  local name=$1 expr=$2 v
  if [ "$rc" -ne 0 ]; then
    bad "$name" "exit $rc" "$err"
    return
  fi
  v=$(value)
  if V="$v" python3 -c "import os,sys; v=os.environ['V']; sys.exit(0 if ($expr) else 1)"; then ok "$name"; else
    bad "$name" "does not hold: $expr" "value: $v"; fi
}
# expect_err NAME PATTERN: the last call failed with one stderr line matching PATTERN
expect_err() {
  if [ "$rc" -eq 1 ] && [ "$(wc -l <<<"$err")" -eq 1 ] && grep -qE -- "$2" <<<"$err"; then ok "$1"; else
    bad "$1" "want exit 1 and one line matching: $2" "exit $rc" "$err"; fi
}

alnum='__import__("re").fullmatch("[A-Za-z0-9]*", v)'
count='lambda cs: sum(c in cs for c in v)'
lower=abcdefghijklmnopqrstuvwxyz
upper=ABCDEFGHIJKLMNOPQRSTUVWXYZ
digits=0123456789
default_special='!#%&*()-_=+[]{}<>:?'

call create '{"inputs":{}}'
check "default: 32 characters of [A-Za-z0-9]" "len(v) == 32 and $alnum"
first=$(value)
call create '{"inputs":{"length":32,"special":false,"min_lower":0,"min_upper":0,"min_numeric":0,"min_special":0,"keepers":{}}}'
check "defaults spelled out: the same shape" "len(v) == 32 and $alnum"
second=$(value)
if [ -n "$first" ] && [ "$first" != "$second" ]; then ok "two creates give different passwords"; else
  bad "two creates give different passwords" "$first" "$second"; fi
call create '{"inputs":{"length":24,"keepers":{"rotated":"2024-01"}}}'
check "length 24 (keepers do not change the value's shape)" "len(v) == 24 and $alnum"

call create '{"inputs":{"length":12,"special":true,"min_lower":1,"min_upper":3,"min_numeric":2,"min_special":4}}'
check "special and every min_* honoured" \
  "len(v) == 12 and ($count)('$lower') >= 1 and ($count)('$upper') >= 3 and ($count)('$digits') >= 2 and ($count)('$default_special') >= 4 and all(c in '$lower$upper$digits$default_special' for c in v)"
call create '{"inputs":{"length":40,"min_numeric":40}}'
check "min_numeric = length: all digits" "len(v) == 40 and v.isdigit()"
call create '{"inputs":{"length":16,"special":true,"override_special":"@$","min_special":5}}'
check "override_special replaces the punctuation" \
  "len(v) == 16 and ($count)('@\$') >= 5 and all(c in '$lower$upper$digits@\$' for c in v)"
call create '{"inputs":{"length":8,"min_special":2}}'
check "min_special without special adds punctuation anyway (as Terraform)" \
  "len(v) == 8 and ($count)('$default_special') >= 2"
call create '{"inputs":{"length":64,"charset":"ab"}}'
check "charset: exactly its characters" "len(v) == 64 and set(v) == set('ab')"
call create '{"inputs":{"length":30,"charset":"xyz019","min_numeric":10,"special":true}}'
check "charset with min_numeric: drawn from charset's digits; special ignored" \
  "len(v) == 30 and set(v) <= set('xyz019') and ($count)('019') >= 10"
call create '{"inputs":{"length":4096,"charset":"abc"}}'
check "no visible bias: each of 3 characters within 10% of 4096/3" \
  "len(v) == 4096 and all(abs(v.count(c) - 4096 / 3) < 4096 / 30 for c in 'abc')"

call create '{"inputs":{"length":3,"min_lower":2,"min_upper":2}}'
expect_err "min_* above length: an error" "min_lower \+ min_upper \+ min_numeric \+ min_special is 4, more than length 3"
call create '{"inputs":{"length":8,"charset":"abc","min_numeric":1}}'
expect_err "min_* of a class charset lacks: an error" "min_numeric is 1 but the charset holds no digits"
call create '{"inputs":{"length":0}}'
expect_err "length 0: an error" "length must be a whole number from 1 to 4096"
call create '{"inputs":{"length":2.5}}'
expect_err "length 2.5: an error" "length must be a whole number"
call create '{"inputs":{"length":8,"charset":""}}'
expect_err "empty charset: an error" "charset is empty"
call create '{"inputs":{"length":8,"charset":"ab\u00e9"}}'
expect_err "non-ASCII charset: an error" "charset may hold printable ASCII characters only"

prior='{"inputs":{"length":8},"outputs":{"value":"Abcdefgh"}}'
call read "{\"prior\":$prior}"
if [ "$rc" -eq 0 ] && [ "$out" = "{\"read\":$prior}" ]; then ok "read gives back the state"; else bad "read gives back the state" "exit $rc" "$out" "$err"; fi
call update "{\"prior\":$prior,\"inputs\":{\"length\":8}}"
if [ "$rc" -eq 0 ] && [ "$out" = '{"outputs":{"value":"Abcdefgh"}}' ]; then ok "update keeps the value"; else bad "update keeps the value" "exit $rc" "$out" "$err"; fi
call delete "{\"prior\":$prior}"
if [ "$rc" -eq 0 ] && [ "$out" = '{}' ]; then ok "delete: nothing to do"; else bad "delete: nothing to do" "exit $rc" "$out" "$err"; fi
