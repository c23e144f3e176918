#!/usr/bin/env bash
# tests/plan/run.sh IDP_BINARY - golden tests of `idp plan`: spec + prior state -> expected plan.
#
# Cases are folders under cases/: `_shared.json` and `dev.json` describe the prior states (written
# through the state API by mkstate.c, so secrets are sealed: no plaintext in any file), `args` holds
# the plan's arguments (default `-env dev`), `expected.txt` the exact stdout. All run against
# spec/. Then: the design baseline's first plans (21 / 13 to add) with registry_image() resolved
# against a real docker-registry (tests/services/registry.sh: digests, one request per repository,
# errors, basic auth), -detailed-exitcode, -json (checked with python3), refusals without
# IDP_STATE_KEY, and a grep of every plan output and state file written for the known secret values. Prints TAP-style lines; exits 0 (tests/run.sh counts).
# UPDATE=1 rewrites the expected.txt files.
set -u

# usage, idp, here, root, LC_ALL and tmp: tests/suite.sh
# shellcheck source=../suite.sh
. "$(dirname "$0")/../suite.sh" plan "$@" || exit 0
build=$(dirname "$idp")
baseline=${IDP_BASELINE:-$here/../../../shared/design/baseline}
trap 'rm -rf "$tmp"' EXIT

# Known secret values: none of them may appear in any output or state file.
export PLAN_TEST_PDNS_KEY="pdns-key-7f3a9c1e-PLAINTEXT"
export PLAN_TEST_TOKEN="token-b81d55e0-PLAINTEXT"
export PLAN_SERVER_JSON="{\"api\": \"http://127.0.0.1:9\", \"api_key\": \"$PLAN_TEST_PDNS_KEY\", \"server_id\": \"localhost\"}"
export PDNS_API_KEY="pdns-admin-3b2c-PLAINTEXT"
export PG_ADMIN_DSN="postgres://admin:pg-pass-91ce-PLAINTEXT@127.0.0.1:5432/postgres"
export IDP_STATE_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
secrets=("$PLAN_TEST_PDNS_KEY" "$PLAN_TEST_TOKEN" "$PDNS_API_KEY" "pg-pass-91ce-PLAINTEXT")

# plan's own ok and bad (in place of the header's): names without a prefix, each DETAIL argument
# printed as one indented line
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
  -o "$mkstate" "$here/mkstate.c" "$build/libidp.a" -ljansson -lcrypto -lyaml -lcurl -lm 2>"$tmp/cc.err"; then
  bad "plan setup: building mkstate" "$(cat "$tmp/cc.err")"
  exit 0
fi

n=0
# plan DIR ARGS...: runs idp plan in a fresh copy; leaves $out, $err, $rc; keeps outputs for the grep.
plan() {
  local dir=$1
  shift
  n=$((n + 1))
  # the test states name servers that do not run: no refresh unless a test asks for one
  local refresh=-refresh=false
  case " $* " in *" -refresh"*) refresh= ;; esac
  (cd "$dir" && timeout 30 "$idp" plan "$@" $refresh) >"$tmp/out.$n" 2>"$tmp/err.$n" </dev/null
  rc=$?
  out=$(cat "$tmp/out.$n")
  err=$(cat "$tmp/err.$n")
}

# fresh NAME CASE: a copy of the case's spec (its own .idp files, else spec/) with the case's
# states (each STATE.json but expected.json), in $tmp/NAME
fresh() {
  local d="$tmp/$1" c="$here/cases/$2" f s
  rm -rf "$d"
  mkdir -p "$d"
  if compgen -G "$c/*.idp" >/dev/null; then cp "$c/"*.idp "$d/"; else cp "$here/spec/"*.idp "$d/"; fi
  for f in "$c"/*.json; do
    [ -f "$f" ] || continue
    s=$(basename "$f" .json)
    [ "$s" = expected ] && continue
    if ! "$mkstate" "$d" "$s" <"$f" 2>"$tmp/mk.err"; then
      bad "plan $2: writing state $s" "$(cat "$tmp/mk.err")"
      return 1
    fi
  done
}

# --- golden cases ---------------------------------------------------------------------------
# A case: its spec (*.idp, default spec/), prior states (STATE.json), `args` (default -env dev),
# `exit` (default 0), and the expected stdout (expected.txt, or expected.json when args has
# -json) and stderr (expected.err; required when the exit status is not 0). Lineages are random:
# they compare as LINEAGE.
norm() { sed -E 's/"lineage": "[0-9a-f-]{36}"/"lineage": "LINEAGE"/'; }
for c in "$here"/cases/*/; do
  c=$(basename "$c")
  cd_=$here/cases/$c
  fresh "case-$c" "$c" || continue
  args=(-env dev)
  [ -f "$cd_/args" ] && read -r -a args <"$cd_/args"
  want=0
  [ -f "$cd_/exit" ] && want=$(cat "$cd_/exit")
  exp=$cd_/expected.txt
  case " ${args[*]} " in *" -json "*) exp=$cd_/expected.json ;; esac
  plan "$tmp/case-$c" "${args[@]}"
  if [ "${UPDATE:-}" = 1 ]; then
    printf '%s\n' "$out" | norm >"$exp"
    [ "$rc" -ne 0 ] && printf '%s\n' "$err" >"$cd_/expected.err"
  fi
  if [ "$rc" -ne "$want" ]; then
    bad "plan $c: exit status" "exit $rc, want $want" "$err"
  elif ! diff -u "$exp" <(printf '%s\n' "$out" | norm) >"$tmp/diff"; then
    bad "plan $c: output matches $(basename "$exp")" "$(cat "$tmp/diff")"
  elif [ -f "$cd_/expected.err" ] && ! diff -u "$cd_/expected.err" <(printf '%s\n' "$err") >"$tmp/diff"; then
    bad "plan $c: errors match expected.err" "$(cat "$tmp/diff")"
  else
    ok "plan $c: output matches $(basename "$exp")"
  fi
done

# --- Markdown: `idp show PLANFILE -format markdown` -------------------------------------------
# A case with expected.md has its plan saved (-out) and shown as Markdown, compared exactly; the
# time, idp version and source hash compare as CREATED, VERSION and HASH. markdown/NAME.idpplan
# are saved plans written by hand (| and backticks in addresses, reasons, keys and values; a
# secret; drift; -target), shown as markdown/NAME.md exactly.
mdnorm() { sed -E 's/made [0-9T:Z-]+ by idp .+ from sources `sha256:[0-9a-f]{12}`/made CREATED by idp VERSION from sources `sha256:HASH`/'; }
for exp in "$here"/cases/*/expected.md; do
  [ -f "$exp" ] || continue
  c=$(basename "$(dirname "$exp")")
  fresh "md-$c" "$c" || continue
  args=(-env dev)
  [ -f "$here/cases/$c/args" ] && read -r -a args <"$here/cases/$c/args"
  plan "$tmp/md-$c" "${args[@]}" -out plan.idpplan
  (cd "$tmp/md-$c" && "$idp" show plan.idpplan -format markdown) >"$tmp/md-$c.md" 2>"$tmp/md-$c.err"
  mrc=$?
  [ "${UPDATE:-}" = 1 ] && mdnorm <"$tmp/md-$c.md" >"$exp"
  if [ "$rc" -ne 0 ] || [ "$mrc" -ne 0 ]; then
    bad "show -format markdown $c: matches expected.md" "plan exit $rc, show exit $mrc" "$err" "$(cat "$tmp/md-$c.err")"
  elif ! diff -u "$exp" <(mdnorm <"$tmp/md-$c.md") >"$tmp/diff"; then
    bad "show -format markdown $c: matches expected.md" "$(cat "$tmp/diff")"
  else
    ok "show -format markdown $c: matches expected.md"
  fi
done
for f in "$here"/markdown/*.idpplan; do
  name=$(basename "$f" .idpplan)
  (cd "$here/markdown" && "$idp" show "$name.idpplan" -format markdown) >"$tmp/md-hand-$name.md" 2>&1
  mrc=$?
  [ "${UPDATE:-}" = 1 ] && cp "$tmp/md-hand-$name.md" "$here/markdown/$name.md"
  if [ "$mrc" -eq 0 ] && diff -u "$here/markdown/$name.md" "$tmp/md-hand-$name.md" >"$tmp/diff"; then
    ok "show -format markdown markdown/$name.idpplan: matches $name.md"
  else
    bad "show -format markdown markdown/$name.idpplan: matches $name.md" "exit $mrc" "$(cat "$tmp/diff")"
  fi
done
# rendered by GitHub's own parser (cmark-gfm), when installed: the escaped | and backticks stay in
# their cells and code spans, the fenced diff holds a ``` run without ending early
if ! command -v cmark-gfm >/dev/null; then
  if [ -n "${CI:-}" ]; then bad "show -format markdown renders: cmark-gfm is not installed"; else
    echo "ok - show -format markdown renders as GitHub does # SKIP cmark-gfm is not installed"; fi
else
  cmark-gfm -e table --unsafe "$here/markdown/escape.md" >"$tmp/escape.html" 2>&1
  rows=$(grep -c '^<tr>' "$tmp/escape.html")
  cells=$(grep -c '^<t[dh]>' "$tmp/escape.html")
  if [ "$rows" -eq 7 ] && [ "$cells" -eq 14 ] &&
    grep -qxF '<td><code>env.pr|7/app.`w`/need.db/random.password.old</code></td>' "$tmp/escape.html" &&
    grep -qxF '<td>changed: <code>len|gth</code>, <code>`x`</code></td>' "$tmp/escape.html" &&
    grep -qxF '<td><code>+/-</code> replace, create before destroy (tainted | by `hand` &lt;b&gt;), forced by <code>length</code></td>' "$tmp/escape.html" &&
    grep -qxF '+   note = &quot;a | b ``` c `d`&quot;' "$tmp/escape.html" &&
    [ "$(grep -c '<pre><code class="language-diff">' "$tmp/escape.html")" -eq 3 ] &&
    [ "$(grep -c '^</details>' "$tmp/escape.html")" -eq 3 ]; then
    ok "show -format markdown renders as GitHub does (cmark-gfm): 2 cells a row, escapes kept, 3 diff blocks"
  else
    bad "show -format markdown renders as GitHub does (cmark-gfm): 2 cells a row, escapes kept, 3 diff blocks" \
      "rows $rows, cells $cells" "$(cat "$tmp/escape.html")"
  fi
fi
# -format: text is the default, json is -json, anything else a usage error
fresh fmt replace && plan "$tmp/fmt" -env dev -out "$tmp/fmt/p.plan"
(cd "$tmp/fmt" && "$idp" show p.plan >"$tmp/fmt/a" && "$idp" show p.plan -format text >"$tmp/fmt/b" &&
  "$idp" show p.plan -json >"$tmp/fmt/c" && "$idp" show p.plan --format=json >"$tmp/fmt/d") 2>"$tmp/fmt.err"
[ $? -eq 0 ] && cmp -s "$tmp/fmt/a" "$tmp/fmt/b" && cmp -s "$tmp/fmt/c" "$tmp/fmt/d" &&
  ok "show -format text is the default, -format json is -json" ||
  bad "show -format text is the default, -format json is -json" "$(cat "$tmp/fmt.err")"
"$idp" show "$tmp/fmt/p.plan" -format html >/dev/null 2>"$tmp/fmt.err"
r1=$?
"$idp" show "$tmp/fmt/p.plan" -json -format markdown >/dev/null 2>>"$tmp/fmt.err"
r2=$?
[ $r1 -eq 2 ] && [ $r2 -eq 2 ] && grep -q "unknown -format 'html'" "$tmp/fmt.err" &&
  grep -q "hint: write -format text, -format markdown or -format json" "$tmp/fmt.err" &&
  ok "show: an unknown -format, or -json with -format markdown, is a usage error (exit 2)" ||
  bad "show: an unknown -format, or -json with -format markdown, is a usage error (exit 2)" "exit $r1 $r2" "$(cat "$tmp/fmt.err")"

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

# --- saved plans: -out, show, stale detection ------------------------------------------------
fresh saved replace && plan "$tmp/saved" -env dev -out "$tmp/saved/p.plan"
text_out=$out
if [ "$rc" -eq 0 ] && [ -f "$tmp/saved/p.plan" ] && [ "$(stat -c %a "$tmp/saved/p.plan")" = 600 ] &&
  grep -q "Saved the plan to $tmp/saved/p.plan" <<<"$out"; then
  ok "plan -out: writes the plan, mode 0600"
else
  bad "plan -out: writes the plan, mode 0600" "exit $rc" "$err" "$(ls -l "$tmp/saved" 2>&1)"
fi
(cd "$tmp/saved" && "$idp" show p.plan) >"$tmp/show.txt" 2>&1
# show prints what plan printed (after its own first line)
if diff <(sed -e '/^Saved the plan/d' <<<"$text_out" | sed '/^$/d') <(sed '1,2d' "$tmp/show.txt" | sed '/^$/d') >"$tmp/diff"; then
  ok "show: prints the saved plan as plan printed it"
else
  bad "show: prints the saved plan as plan printed it" "$(cat "$tmp/diff")"
fi
grep -q '"\$secret": "v1:' "$tmp/saved/p.plan" && ok "plan -out: the secrets apply needs are sealed in the file" ||
  bad "plan -out: the secrets apply needs are sealed in the file"
"$idp" show -json "$tmp/saved/p.plan" >"$tmp/show.json" 2>&1
if grep -q '"stale": false' "$tmp/show.json" && grep -q '"kind": "idp-saved-plan"' "$tmp/show.json" &&
  grep -q '"source_hash": "sha256:[0-9a-f]\{64\}"' "$tmp/show.json" && ! grep -q '\$secret' "$tmp/show.json"; then
  ok "show -json: kind, source hash, not stale, no sealed value"
else
  bad "show -json: kind, source hash, not stale, no sealed value" "$(head -c 2000 "$tmp/show.json")"
fi
# the state moves on (another run wrote it): the plan is stale
"$idp" state rm env.dev/app.web/need.workload/random.password.token -dir "$tmp/saved" >/dev/null 2>&1
"$idp" show "$tmp/saved/p.plan" >"$tmp/show2.txt" 2>&1
grep -q 'Warning: the plan is stale: the state of environment dev has changed since the plan was made (serial 1 when planned, 2 now)' "$tmp/show2.txt" &&
  "$idp" show -json "$tmp/saved/p.plan" | grep -q '"stale": true' &&
  ok "show: a plan whose state moved on is stale" || bad "show: a plan whose state moved on is stale" "$(head -5 "$tmp/show2.txt")"
"$idp" show "$tmp/saved/p.plan" -format markdown >"$tmp/show2.md" 2>&1
grep -qxF '> **Warning:** the plan is stale: the state of environment dev has changed since the plan was made (serial 1 when planned, 2 now)' "$tmp/show2.md" &&
  grep -qxF '> hint: plan again; a saved plan applies only to the states it was made against' "$tmp/show2.md" &&
  grep -q 'Plan again before applying\.$' "$tmp/show2.md" && ! grep -q 'Apply it with' "$tmp/show2.md" &&
  ok "show -format markdown: a stale plan gets a warning, not an apply command" ||
  bad "show -format markdown: a stale plan gets a warning, not an apply command" "$(head -8 "$tmp/show2.md")"
printf '{"format_version": "1"}\n' >"$tmp/notplan.json"
"$idp" show "$tmp/notplan.json" >/dev/null 2>"$tmp/show.err"
[ $? -eq 1 ] && grep -q 'not a saved plan' "$tmp/show.err" && ok "show: refuses a file that is not a saved plan" ||
  bad "show: refuses a file that is not a saved plan" "$(cat "$tmp/show.err")"
printf '{"kind": "idp-saved-plan",\n "format_version": }\n' >"$tmp/bad.plan"
cp "$tmp/bad.plan" "$tmp/bad.plan.orig"
"$idp" show "$tmp/bad.plan" >/dev/null 2>"$tmp/show.err"
[ $? -eq 1 ] && grep -q "bad.plan:2:20: not a saved plan" "$tmp/show.err" && cmp -s "$tmp/bad.plan" "$tmp/bad.plan.orig" &&
  ok "show: malformed plan file: line and column, file untouched" ||
  bad "show: malformed plan file: line and column, file untouched" "$(cat "$tmp/show.err")"
sed 's/"format_version": "1"/"format_version": "7"/' "$tmp/saved/p.plan" >"$tmp/newer.plan"
"$idp" show "$tmp/newer.plan" >/dev/null 2>"$tmp/show.err"
[ $? -eq 1 ] && grep -q 'format_version "7" is not one this idp reads' "$tmp/show.err" &&
  ok "show: refuses a newer plan format" || bad "show: refuses a newer plan format" "$(cat "$tmp/show.err")"
# the same arguments over the same sources hash the same; another -target does not
fresh saved2 replace
plan "$tmp/saved2" -env dev -out "$tmp/saved2/a.plan"
plan "$tmp/saved2" -env dev -out "$tmp/saved2/b.plan"
plan "$tmp/saved2" -env dev -target powerdns.zone.z -out "$tmp/saved2/c.plan"
h() { grep -o '"source_hash": "[^"]*"' "$1"; }
[ "$(h "$tmp/saved2/a.plan")" = "$(h "$tmp/saved2/b.plan")" ] && [ "$(h "$tmp/saved2/a.plan")" != "$(h "$tmp/saved2/c.plan")" ] &&
  ok "plan -out: the source hash covers the sources and the arguments" ||
  bad "plan -out: the source hash covers the sources and the arguments" "$(h "$tmp/saved2/a.plan") $(h "$tmp/saved2/c.plan")"

# --- a real registry for registry_image() ----------------------------------------------------
# A docker-registry on loopback (tests/services/registry.sh) holds acme/shop and acme/billing;
# the baseline reads its URL from REGISTRY_URL. `plan` resolves each image to the digest of the
# highest v* version (v1.10.0: not v1.2.0, not the pre-release v2.0.0-rc.1, not latest or the
# non-semver v1.9). Without docker-registry these fail under CI (.ci/run installs it) and skip
# elsewhere.
source "$root/tests/services/registry.sh"
trap 'registry_stop; rm -rf "$tmp"' EXIT
export REG_TEST_PASSWORD="reg-pass-5e0d-PLAINTEXT"
secrets+=("$REG_TEST_PASSWORD")
reg_ok=false
declare -A digest
if ! why=$(registry_check); then
  if registry_required; then bad "plan registry: $why"; else echo "ok - plan registry # SKIP $why"; fi
elif ! registry_start 2>"$tmp/reg.err"; then
  bad "plan registry: starting docker-registry" "$(cat "$tmp/reg.err")"
else
  reg_ok=true
  for r in acme/shop acme/billing; do
    for t in v0.9.1 v1.2.0 v1.10.0 v1.9 v2.0.0-rc.1 latest build-7; do
      digest[$r:$t]=$(registry_push "$r" "$t") || { bad "plan registry: pushing $r:$t"; reg_ok=false; }
    done
  done
  export REGISTRY_URL
fi

# --- refresh and drift: gitops files edited and deleted by hand ------------------------------
rm -rf "$tmp/drift" && mkdir -p "$tmp/drift" && cp "$here/refresh/main.idp" "$tmp/drift/"
(cd "$tmp/drift" && "$idp" apply -auto-approve) >"$tmp/drift.out" 2>&1
if grep -q "Apply complete! Resources: 1 added" "$tmp/drift.out"; then
  plan "$tmp/drift" -refresh -detailed-exitcode
  [ "$rc" -eq 0 ] && grep -q "^No changes." <<<"$out" && ! grep -q "changed outside of idp" <<<"$out" &&
    ok "refresh: an unchanged object is no drift" ||
    bad "refresh: an unchanged object is no drift" "exit $rc" "$out" "$err"
  sed -i 's/replicas: 1/replicas: 5/' "$tmp/drift/rendered/dev/web.yaml"
  plan "$tmp/drift" -refresh-only -detailed-exitcode
  [ "$rc" -eq 2 ] && grep -q "# env.dev/app.web/need.workload/gitops.deployment.app has changed" <<<"$out" &&
    grep -q "~ replicas = 1 -> 5" <<<"$out" && grep -q "^Drift: 1 object changed outside of idp" <<<"$out" &&
    ok "plan -refresh-only: a hand edit is drift (exit 2)" || bad "plan -refresh-only: a hand edit is drift (exit 2)" "exit $rc" "$out" "$err"
  plan "$tmp/drift" -refresh
  grep -q "~ replicas = 5 -> 1" <<<"$out" && grep -q "Plan: 0 to add, 1 to change, 0 to destroy." <<<"$out" &&
    ok "plan: refreshed, it puts the edited object back" || bad "plan: refreshed, it puts the edited object back" "$out" "$err"
  plan "$tmp/drift" -refresh -out "$tmp/drift/d.plan"
  "$idp" show "$tmp/drift/d.plan" -format markdown >"$tmp/drift.md" 2>&1
  grep -qxF '| `env.dev/app.web/need.workload/gitops.deployment.app` | changed: `replicas` |' "$tmp/drift.md" &&
    grep -qxF '### Drift' "$tmp/drift.md" && grep -qxF '**Plan: 0 to add, 1 to change, 0 to destroy.**' "$tmp/drift.md" &&
    ! grep -q 'refresh=false' "$tmp/drift.md" && grep -qxF -- '- replicas = 5' "$tmp/drift.md" && grep -qxF -- '+ replicas = 1' "$tmp/drift.md" &&
    ok "show -format markdown: the drift the plan recorded, and the update that puts it back" ||
    bad "show -format markdown: the drift the plan recorded, and the update that puts it back" "$(cat "$tmp/drift.md")"
  plan "$tmp/drift" -refresh=false -detailed-exitcode
  [ "$rc" -eq 0 ] && ok "plan -refresh=false: compares with the state only" || bad "plan -refresh=false: compares with the state only" "exit $rc" "$out"
  rm "$tmp/drift/rendered/dev/web.yaml"
  plan "$tmp/drift" -refresh -json
  if grep -q '"action": "delete"' <<<"$out" && grep -q '"refresh": true' <<<"$out" && grep -q '"action": "create"' <<<"$out"; then
    ok "plan -json: a deleted object is drift, and is created again"
  else
    bad "plan -json: a deleted object is drift, and is created again" "$out" "$err"
  fi
else
  bad "refresh: apply of the gitops spec" "$(cat "$tmp/drift.out")"
fi

# --- var blocks, -var and IDP_VAR_NAME ----------------------------------------------------------
rm -rf "$tmp/vars" && mkdir -p "$tmp/vars" && cp "$here/vars/main.idp" "$tmp/vars/"
plan "$tmp/vars"
[ "$rc" -eq 1 ] && grep -q "main.idp:5:5: error: var 'token' has no value" <<<"$err" &&
  grep -q "hint: give one: -var token=VALUE, or export IDP_VAR_token" <<<"$err" &&
  ok "var: one without a value is a located error with the ways to give one" ||
  bad "var: one without a value is a located error with the ways to give one" "exit $rc" "$err"
plan "$tmp/vars" -var tag=blue -var replicas=many -var token=x
[ "$rc" -eq 1 ] && grep -q "var 'replicas' takes a number (its default is one), not 'many'" <<<"$err" &&
  ok "-var: a value that does not fit the default's type is an error" || bad "-var: a value that does not fit the default's type is an error" "$err"
export IDP_VAR_token="var-token-5e1d-PLAINTEXT"
secrets+=("$IDP_VAR_token" "var-given-77c1-PLAINTEXT")
plan "$tmp/vars" -var tag=blue -var replicas=3 -out "$tmp/vars/a.plan"
if [ "$rc" -eq 0 ] && grep -q '+ name = "web-blue"' <<<"$out" && grep -q '+ replicas = 3' <<<"$out" &&
  grep -q 'TOKEN = (secret)' <<<"$out" && grep -q '"tag": "blue"' "$tmp/vars/a.plan"; then
  ok "-var and IDP_VAR_NAME: values planned, recorded in the saved plan, the secret one shown as (secret)"
else
  bad "-var and IDP_VAR_NAME: values planned, recorded in the saved plan, the secret one shown as (secret)" "exit $rc" "$out" "$err"
fi
plan "$tmp/vars" -var tag=blue -var replicas=3 -var token=var-given-77c1-PLAINTEXT -out "$tmp/vars/b.plan"
[ "$rc" -eq 0 ] && grep -q '"token": {' "$tmp/vars/b.plan" && grep -q '"\$secret": "v1:' "$tmp/vars/b.plan" &&
  ok "-var of a secret var: sealed in the saved plan" || bad "-var of a secret var: sealed in the saved plan" "exit $rc" "$err"
plan "$tmp/vars" -var tag=green -var replicas=3 -out "$tmp/vars/c.plan"
[ "$(h "$tmp/vars/a.plan")" != "$(h "$tmp/vars/c.plan")" ] && ok "-var values are part of the source hash" ||
  bad "-var values are part of the source hash"
unset IDP_VAR_token

# --- the design baseline --------------------------------------------------------------------
if [ ! -d "$baseline" ]; then
  echo "ok - plan baseline # SKIP no baseline at $baseline"
elif $reg_ok; then
  rm -rf "$tmp/base" && mkdir -p "$tmp/base" && cp "$baseline"/*.idp "$tmp/base/"
  shop_ref="$REGISTRY_HOST/acme/shop@${digest[acme/shop:v1.10.0]}"
  billing_ref="$REGISTRY_HOST/acme/billing@${digest[acme/billing:v1.10.0]}"
  # images_ok: every image the plan shows is one of the two references, and both are there.
  images_ok() {
    local others
    others=$(grep -E '^ *[+~-]? *"?image"?( =|:) ' <<<"$out" | grep -vF -e "\"$shop_ref\"" -e "\"$billing_ref\"")
    [ -z "$others" ] && grep -qF "\"$shop_ref\"" <<<"$out" && grep -qF "\"$billing_ref\"" <<<"$out"
  }
  asked() { registry_requests "\"$1 /v2/acme/$2/$3"; }
  before=("$(asked GET shop tags/list)" "$(asked GET billing tags/list)" "$(asked HEAD shop manifests)" "$(asked HEAD billing manifests)")
  plan "$tmp/base" -env dev -env staging -refresh=false
  [ "$rc" -eq 0 ] && [ "$(tail -1 <<<"$out")" = "Plan: 21 to add, 0 to change, 0 to destroy." ] &&
    ok "plan baseline dev+staging: 21 to add" || bad "plan baseline dev+staging: 21 to add" "exit $rc" "$(tail -3 <<<"$out")" "$err"
  grep -q 'prod-zone' <<<"$out" && bad "plan baseline dev+staging: prod-zone is not reached" || ok "plan baseline dev+staging: prod-zone is not reached"
  [ "$rc" -eq 0 ] && images_ok && [ "$(grep -cF "image = \"$shop_ref\"" <<<"$out")" -eq 2 ] &&
    ok "plan baseline dev+staging: shop and billing at the digest of v1.10.0" ||
    bad "plan baseline dev+staging: shop and billing at the digest of v1.10.0" "want $shop_ref and $billing_ref" \
      "$(grep -F 'image' <<<"$out")" "$err"
  after=("$(asked GET shop tags/list)" "$(asked GET billing tags/list)" "$(asked HEAD shop manifests)" "$(asked HEAD billing manifests)")
  [ "$((after[0] - before[0]))$((after[1] - before[1]))$((after[2] - before[2]))$((after[3] - before[3]))" = 1111 ] &&
    ok "plan baseline dev+staging: the registry is asked once per repository (tags, then manifest)" ||
    bad "plan baseline dev+staging: the registry is asked once per repository (tags, then manifest)" \
      "requests before: ${before[*]}, after: ${after[*]}" "$(grep -F '"idp"' "$REGISTRY_LOG")"
  plan "$tmp/base" -env prod -refresh=false
  [ "$rc" -eq 0 ] && [ "$(tail -1 <<<"$out")" = "Plan: 13 to add, 0 to change, 0 to destroy." ] &&
    ok "plan baseline prod: 13 to add" || bad "plan baseline prod: 13 to add" "exit $rc" "$(tail -3 <<<"$out")" "$err"
  [ "$rc" -eq 0 ] && images_ok && ok "plan baseline prod: shop and billing at the digest of v1.10.0" ||
    bad "plan baseline prod: shop and billing at the digest of v1.10.0" "$(grep -F 'image' <<<"$out")" "$err"
  plan "$tmp/base" -json
  [ "$rc" -eq 0 ] && grep -q '"add": 34' <<<"$out" && ok "plan baseline, every env, -json: 34 to add" ||
    bad "plan baseline, every env, -json: 34 to add" "exit $rc" "$err"
  [ "$rc" -eq 0 ] && images_ok && grep -qF "\"image\": \"$shop_ref\"" <<<"$out" &&
    ok "plan baseline -json: the images are the pinned digests" ||
    bad "plan baseline -json: the images are the pinned digests" "$(grep -F 'image' <<<"$out" | head)" "$err"
  # graph and explain stay off the network.
  n0=$(registry_requests '"idp"$')
  (cd "$tmp/base" && timeout 30 "$idp" graph -env dev >"$tmp/graph.out" 2>&1) && [ "$(registry_requests '"idp"$')" -eq "$n0" ] &&
    ok "graph baseline: does not ask the registry" || bad "graph baseline: does not ask the registry" "$(tail -3 "$tmp/graph.out")"

  # Errors, located at the call: no tag matches, no such repository, no registry there.
  rm -rf "$tmp/base-bad" && cp -r "$tmp/base" "$tmp/base-bad" && rm -rf "$tmp/base-bad/.idp"
  sed -i 's|"acme/shop", "v\*"|"acme/shop", "release-*"|' "$tmp/base-bad/shop.idp"
  plan "$tmp/base-bad" -env dev
  want="shop.idp:4:11: error: registry_image(): registry $REGISTRY_URL: no tag of acme/shop matches \"release-*\" (7 tags seen)"
  [ "$rc" -eq 1 ] && grep -qxF "$want" <<<"$err" && ok "plan: a pattern no tag matches is a located error naming repository and pattern" ||
    bad "plan: a pattern no tag matches is a located error naming repository and pattern" "exit $rc, want 1" "want: $want" "$err"
  sed -i 's|"acme/shop", "release-\*"|"acme/nope", "v*"|' "$tmp/base-bad/shop.idp"
  plan "$tmp/base-bad" -env dev
  want="shop.idp:4:11: error: registry_image(): registry $REGISTRY_URL: repository acme/nope not found (404 NAME_UNKNOWN)"
  [ "$rc" -eq 1 ] && grep -qxF "$want" <<<"$err" && ok "plan: an unknown repository is a located error" ||
    bad "plan: an unknown repository is a located error" "exit $rc, want 1" "want: $want" "$err"
  (
    export REGISTRY_URL=http://127.0.0.1:1
    plan "$tmp/base" -env dev
    [ "$rc" -eq 1 ] && [ -z "$out" ] &&
      grep -qE "^shop\.idp:4:11: error: registry_image\(\): registry http://127\.0\.0\.1:1: cannot list the tags of acme/shop: .*(connect|refused)" <<<"$err" &&
      ok "plan: an unreachable registry is a clear error" || bad "plan: an unreachable registry is a clear error" "exit $rc, want 1" "$err"
  )
fi

# --- basic auth (htpasswd) ------------------------------------------------------------------
if $reg_ok && ! command -v htpasswd >/dev/null; then
  if registry_required; then bad "plan registry basic auth: htpasswd is not installed (apache2-utils)"; else
    echo "ok - plan registry basic auth # SKIP htpasswd is not installed (apt-get install apache2-utils)"; fi
elif $reg_ok; then
  (
    trap registry_stop EXIT
    if ! registry_start "idp:$REG_TEST_PASSWORD" 2>"$tmp/reg.err"; then
      bad "plan registry basic auth: starting docker-registry" "$(cat "$tmp/reg.err")"
      exit 0
    fi
    registry_push acme/shop v1.0.0 "idp:$REG_TEST_PASSWORD" >/dev/null
    d=$(registry_push acme/shop v1.1.0 "idp:$REG_TEST_PASSWORD")
    mkdir -p "$tmp/auth"
    cat >"$tmp/auth/main.idp" <<'SPEC'
integration oci_registry "private" {
  url      = env("REGISTRY_URL")
  username = "idp"
  password = secret(env("REG_TEST_PASSWORD"))
}

env "dev" {}

provide workload "pinned" {
  resource random.password "tag" {
    keepers = { image = app.image }
  }
}

app "web" {
  image = registry_image(integration.private, "acme/shop", "v*")
  port  = 80
}
SPEC
    plan "$tmp/auth" -env dev
    [ "$rc" -eq 0 ] && grep -qF "image = \"$REGISTRY_HOST/acme/shop@$d\"" <<<"$out" &&
      ok "plan: basic auth (username + secret password) against an htpasswd registry" ||
      bad "plan: basic auth (username + secret password) against an htpasswd registry" "exit $rc" "$out" "$err"
    REG_TEST_PASSWORD=wrong-pass-PLAINTEXT plan "$tmp/auth" -env dev
    want="main.idp:16:11: error: registry_image(): registry $REGISTRY_URL: not authorized to read acme/shop (401 UNAUTHORIZED); check the integration's credentials"
    [ "$rc" -eq 1 ] && grep -qxF "$want" <<<"$err" && ! grep -q 'wrong-pass' "$tmp/out.$n" "$tmp/err.$n" &&
      ok "plan: a wrong password is refused, and not shown" || bad "plan: a wrong password is refused, and not shown" "exit $rc" "want: $want" "$err"
  )
fi

# --- modules: `use "kubernetes"` (stdlib) and a local module ----------------------------------
export IDP_STDLIB="$root/stdlib"
mkdir -p "$tmp/usek/mods/rnd"
cat >"$tmp/usek/main.idp" <<'SPEC'
use "kubernetes" {}
use "./mods/rnd" {}

integration kubernetes "prod" {
  server = "https://127.0.0.1:6443"
}

env_type production {
  cluster  = integration.prod
  replicas = 2
}

env "prod" { type = "production" }

app "shop" {
  image = "registry.example/acme/shop@sha256:0000000000000000000000000000000000000000000000000000000000000000"
  port  = 8080
  variables {
    MODE = "prod"
  }
  need "ns" { type = "namespace" }
  need "pw" { type = "password" }
}
SPEC
cat >"$tmp/usek/mods/rnd/rnd.idp" <<'SPEC'
provide password "random" {
  resource random.password "pw" {
    length = 16
  }
  outputs {
    value = resource.pw.value
  }
}
SPEC
plan "$tmp/usek" -env prod
if [ "$rc" -eq 0 ] && grep -qxF "Plan: 5 to add, 0 to change, 0 to destroy." <<<"$out" &&
  grep -qF 'name = "shop-prod"' <<<"$out" && grep -qF 'replicas = 2' <<<"$out" &&
  grep -qF 'env.prod/app.shop/need.workload/kubernetes.service.svc will be created' <<<"$out" &&
  grep -qF 'env.prod/app.shop/need.pw/random.password.pw will be created' <<<"$out"; then
  ok "plan: use \"kubernetes\" and a local module: their provides plan (5 to add)"
else
  bad "plan: use \"kubernetes\" and a local module: their provides plan (5 to add)" "exit $rc" "$out" "$err"
fi
# the saved plan's source hash covers the module files: a change in one makes the plan stale
plan "$tmp/usek" -env prod -out "$tmp/usek/p.plan"
h1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("source_hash",""))' "$tmp/usek/p.plan" 2>/dev/null)
sed -i 's/length = 16/length = 20/' "$tmp/usek/mods/rnd/rnd.idp"
plan "$tmp/usek" -env prod -out "$tmp/usek/p2.plan"
h2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("source_hash",""))' "$tmp/usek/p2.plan" 2>/dev/null)
if [ -n "$h1" ] && [ "$h1" != "$h2" ]; then
  ok "plan: the source hash covers module files"
else
  bad "plan: the source hash covers module files" "h1=$h1" "h2=$h2"
fi
unset IDP_STDLIB

# --- colour: only on a terminal, never with -no-color or NO_COLOR (no-color.org) --------------
# script(1) (util-linux) runs idp on a pseudo-terminal; colour is ANSI SGR (ESC [ ... m).
if ! command -v script >/dev/null; then
  echo "ok - colour # SKIP script(1) is not installed (util-linux's bsdutils)"
else
  unset NO_COLOR
  # tty_run DIR ARGS...: idp ARGS in DIR on a pty; leaves $out (carriage returns removed) and $rc
  tty_run() {
    local dir=$1 cmd
    shift
    printf -v cmd '%q ' "$idp" "$@"
    (cd "$dir" && timeout 60 script -qefc "$cmd" /dev/null) </dev/null >"$tmp/tty.out" 2>&1
    rc=$?
    out=$(tr -d '\r' <"$tmp/tty.out")
  }
  esc=$'\e['
  rm -rf "$tmp/colour" && mkdir -p "$tmp/colour" && cp "$here/refresh/main.idp" "$tmp/colour/"
  plain=$(cd "$tmp/colour" && "$idp" plan -refresh=false 2>&1)
  tty_run "$tmp/colour" plan -refresh=false
  [ "$rc" -eq 0 ] && [[ $out == *$'\e[32m+\e[0m env.dev/app.web/need.workload/gitops.deployment.app {'* ]] &&
    [[ $out == *$'  \e[1m# env.dev/app.web/need.workload/gitops.deployment.app will be created\e[0m'* ]] &&
    [[ $out == *$'      \e[32m+\e[0m replicas = 1'* ]] && [[ $out == *$'\e[1mPlan:\e[0m 1 to add, 0 to change, 0 to destroy.'* ]] &&
    [[ $plain != *$'\e'* ]] &&
    ok "colour: plan on a terminal (+ green, headings bold), none in a pipe" ||
    bad "colour: plan on a terminal (+ green, headings bold), none in a pipe" "exit $rc" "$(cat -v "$tmp/tty.out" | head -20)"
  for flag in -no-color --no-color -no-color=true; do
    tty_run "$tmp/colour" plan -refresh=false "$flag"
    [ "$rc" -eq 0 ] && [ "$out" = "$plain" ] && ok "colour: plan $flag on a terminal prints the bytes a pipe gets" ||
      bad "colour: plan $flag on a terminal prints the bytes a pipe gets" "exit $rc" "$(cat -v "$tmp/tty.out" | head -5)"
  done
  NO_COLOR=1 tty_run "$tmp/colour" plan -refresh=false
  [ "$rc" -eq 0 ] && [ "$out" = "$plain" ] && ok "colour: NO_COLOR=1 turns it off" ||
    bad "colour: NO_COLOR=1 turns it off" "$(cat -v "$tmp/tty.out" | head -5)"
  NO_COLOR= tty_run "$tmp/colour" plan -refresh=false
  [[ $out == *"$esc"* ]] && ok "colour: an empty NO_COLOR does not" || bad "colour: an empty NO_COLOR does not" "$(head -5 <<<"$out")"
  # apply prints its plan in colour; the progress and summary stay plain
  tty_run "$tmp/colour" apply -auto-approve
  [ "$rc" -eq 0 ] && [[ $out == *$'\e[32m+\e[0m env.dev/app.web'* ]] && [[ $out == *"Apply complete! Resources: 1 added"* ]] &&
    ok "colour: apply on a terminal" || bad "colour: apply on a terminal" "exit $rc" "$(cat -v "$tmp/tty.out")"
  # drift: ~ yellow; off with NO_COLOR
  sed -i 's/replicas: 1/replicas: 4/' "$tmp/colour/rendered/dev/web.yaml"
  tty_run "$tmp/colour" plan -refresh-only
  [[ $out == *$'  \e[1m# env.dev/app.web/need.workload/gitops.deployment.app has changed\e[0m'* ]] &&
    [[ $out == *$'      \e[33m~\e[0m replicas = 1 -> 4'* ]] && ok "colour: drift on a terminal (~ yellow)" ||
    bad "colour: drift on a terminal (~ yellow)" "exit $rc" "$(cat -v "$tmp/tty.out")"
  NO_COLOR=1 tty_run "$tmp/colour" plan -refresh-only
  [[ $out != *$'\e'* ]] && [[ $out == *"~ replicas = 1 -> 4"* ]] && ok "colour: drift with NO_COLOR=1 is plain" ||
    bad "colour: drift with NO_COLOR=1 is plain" "$(cat -v "$tmp/tty.out")"
  # show: text coloured on a terminal unless -no-color; Markdown never
  tty_run "$tmp/colour" plan -out c.plan -no-color
  tty_run "$tmp/colour" show c.plan
  [[ $out == *$'\e[33m~\e[0m env.dev/app.web'* ]] && ok "colour: show on a terminal (~ yellow)" ||
    bad "colour: show on a terminal (~ yellow)" "exit $rc" "$(cat -v "$tmp/tty.out")"
  tty_run "$tmp/colour" show c.plan -no-color
  [ "$rc" -eq 0 ] && [[ $out != *$'\e'* ]] && ok "colour: show -no-color is plain" || bad "colour: show -no-color is plain" "$(cat -v "$tmp/tty.out")"
  tty_run "$tmp/colour" show c.plan -format markdown
  [ "$rc" -eq 0 ] && [[ $out != *$'\e'* ]] && [[ $out == *"## idp plan"* ]] && ok "colour: show -format markdown is never coloured" ||
    bad "colour: show -format markdown is never coloured" "$(cat -v "$tmp/tty.out")"
  tty_run "$tmp/colour" destroy -auto-approve -no-color
  [ "$rc" -eq 0 ] && [[ $out != *$'\e'* ]] && [[ $out == *"Destroy complete! Resources: 0 added, 0 changed, 1 destroyed."* ]] &&
    ok "colour: destroy -no-color on a terminal is plain" || bad "colour: destroy -no-color on a terminal is plain" "exit $rc" "$(cat -v "$tmp/tty.out")"
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
