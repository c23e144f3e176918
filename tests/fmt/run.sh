#!/usr/bin/env bash
# tests/fmt/run.sh IDP - `idp fmt` golden and round-trip tests, as TAP lines.
#
#   cases/NAME.idp -> cases/NAME.fmt   the canonical layout, exactly
#   every .fmt, the baseline, golden/valid specs and examples: fmt is a fixed point of its own
#   output, keeps every comment, and the result still validates.
set -u
IDP=${1:?usage: run.sh IDP}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() { echo "ok - $1"; }
not_ok() { echo "not ok - $1"; shift; [ $# -gt 0 ] && printf '%s\n' "$@" | sed 's/^/  /'; }

# Runs idp with a time limit; a crash or a sanitizer report (exit 99) is never a pass.
run() { timeout 60 "$IDP" "$@"; }

for src in "$here"/cases/*.idp; do
  name=$(basename "$src" .idp)
  want="$here/cases/$name.fmt"
  got=$(run fmt - < "$src" 2>&1; echo "exit: $?")
  if [ "$got" == "$(cat "$want"; echo "exit: 0")" ]; then ok "fmt/$name"
  else not_ok "fmt/$name" "$(diff <(cat "$want"; echo "exit: 0") <(echo "$got") | head -40)"; fi
done

# Comments of a file, one per line, as written (for checking none is lost).
comments() { grep -oE '(#|//).*$|/\*.*' "$1" | sed 's/[[:space:]]*$//' | sort; }

roundtrip() { # roundtrip NAME FILE
  local name=$1 file=$2 base
  base=$(basename "$file")
  mkdir -p "$tmp/$name"
  if ! run fmt - < "$file" > "$tmp/$name/$base" 2> "$tmp/err"; then
    not_ok "roundtrip/$name: fmt failed" "$(head -20 "$tmp/err")"
    return
  fi
  if ! run fmt - < "$tmp/$name/$base" > "$tmp/again" 2> "$tmp/err" || ! cmp -s "$tmp/$name/$base" "$tmp/again"; then
    not_ok "roundtrip/$name: fmt of fmt output changes it" "$(diff "$tmp/$name/$base" "$tmp/again" | head -20)"
    return
  fi
  if ! diff <(comments "$file") <(comments "$tmp/$name/$base") > "$tmp/err"; then
    not_ok "roundtrip/$name: comments changed" "$(head -20 "$tmp/err")"
    return
  fi
  ok "roundtrip/$name"
}

for f in "$here"/cases/*.fmt; do roundtrip "case-$(basename "$f" .fmt)" "$f"; done
for f in "$repo"/tests/golden/valid/*.idp "$repo"/examples/*/*.idp; do
  [ -f "$f" ] && roundtrip "$(basename "$(dirname "$f")")-$(basename "$f" .idp)" "$f"
done

# The baseline: fmt keeps it valid, keeps its comments, and -check of the result lists nothing.
baseline="$repo/../shared/design/baseline"
if [ -d "$baseline" ]; then
  for f in "$baseline"/*.idp; do roundtrip "baseline-$(basename "$f" .idp)" "$f"; done
  mkdir -p "$tmp/bl"
  cp "$baseline"/*.idp "$tmp/bl/"
  out=$(run fmt "$tmp/bl" 2>&1) && v=$(run validate "$tmp/bl" 2>&1)
  if [ $? -eq 0 ] && [ "$v" == "4 files, 20 blocks: valid" ]; then ok "baseline formatted in place still validates"
  else not_ok "baseline formatted in place still validates" "$out" "$v"; fi
  out=$(run fmt -check "$tmp/bl" 2>&1)
  if [ $? -eq 0 ] && [ -z "$out" ]; then ok "fmt -check of formatted baseline lists no file"
  else not_ok "fmt -check of formatted baseline lists no file" "$out"; fi
else
  echo "ok - baseline round trip # SKIP no ../shared/design/baseline"
fi

# -check lists the files that would change and exits 3, touching nothing; -diff prints a diff.
mkdir -p "$tmp/chk"
cp "$here/cases/align.idp" "$tmp/chk/a.idp"
cp "$here/cases/align.fmt" "$tmp/chk/b.idp"
before=$(cat "$tmp/chk/a.idp")
out=$(cd "$tmp/chk" && run fmt -check . 2>&1)
rc=$?
if [ $rc -eq 3 ] && [ "$out" == "a.idp" ] && [ "$before" == "$(cat "$tmp/chk/a.idp")" ]; then ok "fmt -check lists changed files, exit 3"
else not_ok "fmt -check lists changed files, exit 3" "exit $rc" "$out"; fi
out=$(cd "$tmp/chk" && run fmt --diff . 2>&1)
rc=$?
if [ $rc -eq 0 ] && grep -q '^--- a/a.idp' <<<"$out" && grep -q '^+++ b/a.idp' <<<"$out" && [ "$before" == "$(cat "$tmp/chk/a.idp")" ]; then
  ok "fmt --diff prints a unified diff and changes nothing"
else not_ok "fmt --diff prints a unified diff and changes nothing" "exit $rc" "$out"; fi
chmod 0640 "$tmp/chk/a.idp"
out=$(cd "$tmp/chk" && run fmt . 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ "$out" == "a.idp" ] && cmp -s "$tmp/chk/a.idp" "$here/cases/align.fmt" && [ "$(stat -c %a "$tmp/chk/a.idp")" == 640 ]; then
  ok "fmt rewrites the changed file in place, keeping its mode"
else not_ok "fmt rewrites the changed file in place, keeping its mode" "exit $rc" "$out"; fi
# A file with syntax errors is left alone and its errors are printed.
printf 'app "x" {\n  a = [1,\n' > "$tmp/chk/bad.idp"
cp "$tmp/chk/bad.idp" "$tmp/bad.orig"
out=$(cd "$tmp/chk" && run fmt bad.idp 2>&1)
rc=$?
if [ $rc -eq 1 ] && grep -q "^bad.idp:2:10: error: ']' expected" <<<"$out" && cmp -s "$tmp/chk/bad.idp" "$tmp/bad.orig"; then
  ok "fmt leaves a file with syntax errors alone"
else not_ok "fmt leaves a file with syntax errors alone" "exit $rc" "$out"; fi
exit 0
