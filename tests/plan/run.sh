#!/usr/bin/env bash
# tests/plan/run.sh IDP_BINARY - golden tests of `idp plan`: spec + prior state -> expected plan.
#
# Cases are folders under cases/: `_shared.json` and `dev.json` describe the prior states (written
# through the state API by mkstate.c, so secrets are sealed: no plaintext in any file), `args` holds
# the plan's arguments (default `-env dev`), `expected.txt` the exact stdout. All run against
# spec/. Then: the design baseline's first plans (21 / 13 to add), -detailed-exitcode, -json
# (checked with python3), refusals without IDP_STATE_KEY, and a grep of every plan output and state
# file written for the known secret values. Prints TAP-style lines; exits 0 (tests/run.sh counts).
# UPDATE=1 rewrites the expected.txt files.
set -u

if [ $# -lt 1 ]; then
  echo "usage: $0 IDP_BINARY" >&2
  exit 2
fi
idp=$1
case $idp in /*) ;; *) idp="$PWD/$idp" ;; esac
if [ ! -x "$idp" ]; then
  echo "not ok - plan setup: $idp is not an executable"
  exit 0
fi
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(dirname "$idp")
baseline=${IDP_BASELINE:-$here/../../../shared/design/baseline}
export LC_ALL=C
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Known secret values: none of them may appear in any output or state file.
export PLAN_TEST_PDNS_KEY="pdns-key-7f3a9c1e-PLAINTEXT"
export PLAN_TEST_TOKEN="token-b81d55e0-PLAINTEXT"
export PLAN_SERVER_JSON="{\"api\": \"http://127.0.0.1:9\", \"api_key\": \"$PLAN_TEST_PDNS_KEY\", \"server_id\": \"localhost\"}"
export PDNS_API_KEY="pdns-admin-3b2c-PLAINTEXT"
export PG_ADMIN_DSN="postgres://admin:pg-pass-91ce-PLAINTEXT@127.0.0.1:5432/postgres"
export IDP_STATE_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
secrets=("$PLAN_TEST_PDNS_KEY" "$PLAN_TEST_TOKEN" "$PDNS_API_KEY" "pg-pass-91ce-PLAINTEXT")

ok() { echo "ok - $1"; }
bad() {
  echo "not ok - $1"
  shift
  for l in "$@"; do printf '  %s\n' "$l"; done
}

# The state helper, linked against the build's library (sanitized when the build is).
san=()
case $build in *san*) san=(-fsanitize=address,undefined) ;; esac
mkstate="$tmp/mkstate"
if ! cc -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE "${san[@]}" -I"$root/runtime" -I"$root/compiler" \
  -o "$mkstate" "$here/mkstate.c" "$build/libidp.a" -ljansson -lcrypto -lyaml -lm 2>"$tmp/cc.err"; then
  bad "plan setup: building mkstate" "$(cat "$tmp/cc.err")"
  exit 0
fi

n=0
# plan DIR ARGS...: runs idp plan in a fresh copy; leaves $out, $err, $rc; keeps outputs for the grep.
plan() {
  local dir=$1
  shift
  n=$((n + 1))
  (cd "$dir" && timeout 30 "$idp" plan "$@") >"$tmp/out.$n" 2>"$tmp/err.$n" </dev/null
  rc=$?
  out=$(cat "$tmp/out.$n")
  err=$(cat "$tmp/err.$n")
}

# fresh NAME CASE: a copy of the spec with the case's states, in $tmp/NAME
fresh() {
  local d="$tmp/$1" c="$here/cases/$2"
  rm -rf "$d"
  mkdir -p "$d"
  cp "$here/spec/"*.idp "$d/"
  for s in _shared dev; do
    if [ -f "$c/$s.json" ] && ! "$mkstate" "$d" "$s" <"$c/$s.json" 2>"$tmp/mk.err"; then
      bad "plan $2: writing state $s" "$(cat "$tmp/mk.err")"
      return 1
    fi
  done
}

# --- golden cases ---------------------------------------------------------------------------
for c in "$here"/cases/*/; do
  c=$(basename "$c")
  fresh "case-$c" "$c" || continue
  args=(-env dev)
  [ -f "$here/cases/$c/args" ] && read -r -a args <"$here/cases/$c/args"
  plan "$tmp/case-$c" "${args[@]}"
  if [ "${UPDATE:-}" = 1 ]; then printf '%s\n' "$out" >"$here/cases/$c/expected.txt"; fi
  if [ "$rc" -ne 0 ]; then
    bad "plan $c: exit status" "exit $rc, want 0" "$err"
  elif ! diff -u "$here/cases/$c/expected.txt" <(printf '%s\n' "$out") >"$tmp/diff"; then
    bad "plan $c: output matches expected.txt" "$(cat "$tmp/diff")"
  else
    ok "plan $c: output matches expected.txt"
  fi
done

# --- exit codes -----------------------------------------------------------------------------
fresh ec-noop noop && plan "$tmp/ec-noop" -env dev -detailed-exitcode
[ "$rc" -eq 0 ] && ok "plan -detailed-exitcode: 0 without changes" || bad "plan -detailed-exitcode: 0 without changes" "exit $rc" "$err"
fresh ec-upd update && plan "$tmp/ec-upd" -env dev -detailed-exitcode
[ "$rc" -eq 2 ] && ok "plan -detailed-exitcode: 2 with changes" || bad "plan -detailed-exitcode: 2 with changes" "exit $rc" "$err"
plan "$tmp/ec-upd" -env dev
[ "$rc" -eq 0 ] && ok "plan: 0 with changes without -detailed-exitcode" || bad "plan: 0 with changes without -detailed-exitcode" "exit $rc"
plan "$tmp/ec-upd" -env dev -bogus
[ "$rc" -eq 1 ] && ok "plan: a bad flag exits 1" || bad "plan: a bad flag exits 1" "exit $rc"
plan "$tmp/ec-upd" -env nosuch
[ "$rc" -eq 1 ] && ok "plan: an unknown env exits 1" || bad "plan: an unknown env exits 1" "exit $rc" "$err"

# --- -json ----------------------------------------------------------------------------------
fresh json replace && plan "$tmp/json" -env dev -json
if [ "$rc" -ne 0 ]; then
  bad "plan -json" "exit $rc" "$err"
elif command -v python3 >/dev/null; then
  if python3 - "$tmp/out.$n" >"$tmp/py" 2>&1 <<'EOF'; then
import json, sys
p = json.load(open(sys.argv[1]))
assert p["format_version"] == "1", p["format_version"]
assert p["refresh"] is False
assert p["summary"] == {"add": 2, "change": 0, "destroy": 2}, p["summary"]
rc = {r["address"]: r for r in p["resource_changes"]}
order = [r["address"] for r in p["resource_changes"]]
assert order.index("powerdns.zone.z") < order.index("env.dev/app.web/need.host/powerdns.record.host"), order
rec = rc["env.dev/app.web/need.host/powerdns.record.host"]
assert rec["action"] == "replace", rec["action"]
assert rec["change"]["replace_paths"] == ["type"], rec["change"]["replace_paths"]
assert rec["change"]["before"]["type"] == "CNAME" and rec["change"]["after"]["type"] == "A"
assert rec["change"]["after_secret"] == {"server": {"api_key": True}}, rec["change"]["after_secret"]
assert rec["change"]["after"]["server"]["api_key"] is None
assert rec["change"]["before_secret"]["server"] is True, rec["change"]["before_secret"]
assert rec["change"]["after_unknown"]["id"] is True, rec["change"]["after_unknown"]
tok = rc["env.dev/app.web/need.workload/random.password.token"]
assert tok["action"] == "replace" and tok["reason"] == "tainted", tok
assert rc["powerdns.zone.z"]["action"] == "no-op"
for s in p["states"]:
    assert s["serial"] == 1 and len(s["lineage"]) == 36, s
EOF
    ok "plan -json: format_version, actions, replace_paths, unknown and secret marks"
  else
    bad "plan -json: format_version, actions, replace_paths, unknown and secret marks" "$(cat "$tmp/py")"
  fi
else
  grep -q '"format_version": "1"' <<<"$out" && grep -q '"after_secret"' <<<"$out" &&
    ok "plan -json: fields present (no python3)" || bad "plan -json: fields present (no python3)" "$out"
fi

# --- secrets and the key --------------------------------------------------------------------
fresh nokey noop
(
  unset IDP_STATE_KEY
  plan "$tmp/nokey" -env dev
  [ "$rc" -eq 1 ] && grep -q 'IDP_STATE_KEY' <<<"$err" && grep -q 'hint: ' <<<"$err" &&
    ok "plan: a state holding secrets needs IDP_STATE_KEY" ||
    bad "plan: a state holding secrets needs IDP_STATE_KEY" "exit $rc" "$err"
)
fresh nokey2 empty
(
  unset IDP_STATE_KEY
  plan "$tmp/nokey2" -env dev
  [ "$rc" -eq 1 ] && grep -q 'would keep a secret in the state' <<<"$err" && grep -q 'export IDP_STATE_KEY' <<<"$err" &&
    ok "plan: a plan that would store a secret needs IDP_STATE_KEY" ||
    bad "plan: a plan that would store a secret needs IDP_STATE_KEY" "exit $rc" "$err"
)
fresh wrongkey noop
(
  export IDP_STATE_KEY=ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff
  plan "$tmp/wrongkey" -env dev
  [ "$rc" -eq 1 ] && [ -z "$out" ] && ok "plan: a wrong IDP_STATE_KEY is an error" ||
    bad "plan: a wrong IDP_STATE_KEY is an error" "exit $rc" "$err"
)
# A changed secret input shows as (secret), never its value (server forces replacement).
fresh secretchg noop
(
  export PLAN_TEST_PDNS_KEY="pdns-key-rotated-PLAINTEXT"
  plan "$tmp/secretchg" -env dev
  grep -q '~ server = (secret) -> {' <<<"$out" && grep -q "Plan: 2 to add, 0 to change, 2 to destroy." <<<"$out" && grep -q "} # forces replacement" <<<"$out" &&
    ok "plan: a changed secret input shows as (secret)" ||
    bad "plan: a changed secret input shows as (secret)" "exit $rc" "$out" "$err"
  ! grep -q 'pdns-key-rotated' "$tmp/out.$n" || bad "plan: rotated secret leaked"
)

# --- the design baseline --------------------------------------------------------------------
if [ -d "$baseline" ]; then
  rm -rf "$tmp/base" && mkdir -p "$tmp/base" && cp "$baseline"/*.idp "$tmp/base/"
  plan "$tmp/base" -env dev -env staging -refresh=false
  [ "$rc" -eq 0 ] && [ "$(tail -1 <<<"$out")" = "Plan: 21 to add, 0 to change, 0 to destroy." ] &&
    ok "plan baseline dev+staging: 21 to add" || bad "plan baseline dev+staging: 21 to add" "exit $rc" "$(tail -3 <<<"$out")" "$err"
  grep -q 'prod-zone' <<<"$out" && bad "plan baseline dev+staging: prod-zone is not reached" || ok "plan baseline dev+staging: prod-zone is not reached"
  plan "$tmp/base" -env prod -refresh=false
  [ "$rc" -eq 0 ] && [ "$(tail -1 <<<"$out")" = "Plan: 13 to add, 0 to change, 0 to destroy." ] &&
    ok "plan baseline prod: 13 to add" || bad "plan baseline prod: 13 to add" "exit $rc" "$(tail -3 <<<"$out")" "$err"
  plan "$tmp/base" -json
  [ "$rc" -eq 0 ] && grep -q '"add": 34' <<<"$out" && ok "plan baseline, every env, -json: 34 to add" ||
    bad "plan baseline, every env, -json: 34 to add" "exit $rc" "$err"
else
  echo "ok - plan baseline # SKIP no baseline at $baseline"
fi

# --- no secret in plaintext anywhere the tests wrote ----------------------------------------
leaks=()
for s in "${secrets[@]}"; do
  while IFS= read -r f; do leaks+=("$f holds a secret"); done < <(grep -rlF -- "$s" "$tmp" --exclude=mkstate 2>/dev/null)
done
nfiles=$(find "$tmp" -name '*.json' -path '*/.idp/state/*' | wc -l)
if [ "${#leaks[@]}" -eq 0 ] && [ "$nfiles" -gt 0 ]; then
  ok "plan: no secret in plaintext in $n plan outputs and $nfiles state files"
else
  bad "plan: no secret in plaintext in plan outputs and state files" "${leaks[@]}" "state files: $nfiles"
fi
