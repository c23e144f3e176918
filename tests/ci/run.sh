#!/usr/bin/env bash
# tests/ci/run.sh IDP_BINARY - idp inside CI pipelines (examples/ci/, docs/ci.md):
#   - examples/ci/*.yml parse with libyaml (yamlcheck.c: syntax, keys given twice) and have the
#     top-level keys GitHub Actions / GitLab CI need;
#   - every `idp` command line in them uses commands and flags idp accepts: each flag is in
#     `idp help CMD`, and the line run in an empty directory reports no unknown flag or bad value
#     (`idp pipeline` lines are skipped while `idp help pipeline` does not know the command);
#   - the flow the files run, on a local spec (the gitops driver: no server): a persistent state
#     directory linked as .idp, validate, fmt -check, plan -out -detailed-exitcode (2), show
#     -format markdown, apply of the saved plan, a second checkout planning no changes (0);
#   - the -json event stream of apply and destroy: every line an object with the fields
#     docs/ci.md documents for its type, and no field it does not;
#   - the exit codes docs/ci.md lists for the usage errors and `fmt -check`.
# Prints TAP-style lines; exits 0 (tests/run.sh counts).
set -u

# usage, idp, here, root, LC_ALL and tmp: tests/suite.sh
# shellcheck source=../suite.sh
. "$(dirname "$0")/../suite.sh" ci "$@" || exit 0
trap 'rm -rf "$tmp"' EXIT
unset NO_COLOR

# ci's own ok and bad (in place of the header's): names without a prefix, each DETAIL argument
# printed as one indented line
ok() { echo "ok - $1"; }
bad() {
  echo "not ok - $1"
  shift
  for l in "$@"; do printf '  %s\n' "$l"; done
}

# --- the YAML files parse -------------------------------------------------------------------
yamlcheck="$tmp/yamlcheck"
if ! cc -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -o "$yamlcheck" "$here/yamlcheck.c" -lyaml 2>"$tmp/cc.err"; then
  bad "ci setup: building yamlcheck (libyaml)" "$(cat "$tmp/cc.err")"
  exit 0
fi
printf 'a: 1\nb:\n  c: 2\n  c: 3\n' >"$tmp/dup.yml"
printf 'a: [1, 2\nb: 3\n' >"$tmp/broken.yml"
"$yamlcheck" "$tmp/dup.yml" >/dev/null 2>"$tmp/y1" && bad "yamlcheck: a key given twice is an error" ||
  { grep -q "dup.yml:4:3: key 'c' given twice" "$tmp/y1" && ok "yamlcheck: a key given twice is an error" ||
    bad "yamlcheck: a key given twice is an error" "$(cat "$tmp/y1")"; }
"$yamlcheck" "$tmp/broken.yml" >/dev/null 2>"$tmp/y2" && bad "yamlcheck: a syntax error is an error" ||
  { grep -q "broken.yml:2:" "$tmp/y2" && ok "yamlcheck: a syntax error is an error, located" ||
    bad "yamlcheck: a syntax error is an error, located" "$(cat "$tmp/y2")"; }

declare -A need=([github-actions.yml]="name on jobs" [gitlab-ci.yml]="stages workflow plan apply")
for f in "$root"/examples/ci/*.yml; do
  name=$(basename "$f")
  if ! keys=$("$yamlcheck" "$f" 2>"$tmp/y.err"); then
    bad "examples/ci/$name parses (libyaml)" "$(cat "$tmp/y.err")"
    continue
  fi
  missing=()
  for k in ${need[$name]:-}; do grep -qx -- "$k" <<<"$keys" || missing+=("$k"); done
  [ ${#missing[@]} -eq 0 ] && ok "examples/ci/$name parses (libyaml), top-level keys: $(tr '\n' ' ' <<<"$keys")" ||
    bad "examples/ci/$name parses, with its top-level keys" "missing: ${missing[*]}" "keys: $keys"
done

# --- every idp command line uses flags idp accepts ------------------------------------------
# A command line: a line (after YAML's `- ` and `run:`) starting with `idp WORD`, with its
# backslash continuations, cut at the first shell operator; ${{ ... }} and $VARS become X. In
# comments (`#   idp pipeline run ...`, marked @ here), only lines naming an idp command count:
# the rest is prose.
extract() {
  sed -E -e 's/^[[:space:]]*(-[[:space:]]+)?(run:[[:space:]]*)?//' -e 's/^#[[:space:]]*/@ /' "$1" |
    awk '/\\$/ { sub(/\\$/, ""); buf = buf $0; next } { print buf $0; buf = "" }' |
    grep -E '^(@ )?idp [a-z]' |
    sed -E -e 's/\$\{\{[^}]*\}\}/X/g' -e 's/"?\$\{?[A-Za-z_][A-Za-z_0-9]*\}?"?/X/g' \
      -e 's/[[:space:]]*(\|\||&&|[|;>#]).*$//' -e 's/^@ /@/'
}
commands=" $("$idp" help | awk '/^Commands:/ { on = 1; next } on && NF { print $1 }' | tr '\n' ' ') pipeline serve "
mkdir -p "$tmp/empty"
for f in "$root"/examples/ci/*.yml; do
  name=$(basename "$f")
  nlines=0
  while IFS= read -r line; do
    read -r -a w <<<"${line#@}"
    cmd=${w[1]}
    if [ "${line:0:1}" = "@" ]; then
      case $commands in *" $cmd "*) line=${line#@} ;; *) continue ;; esac
    fi
    nlines=$((nlines + 1))
    sub=
    if ! "$idp" help "$cmd" >"$tmp/help" 2>/dev/null; then
      if [ "$cmd" = pipeline ] || [ "$cmd" = serve ]; then
        echo "ok - examples/ci/$name: '$line' # SKIP idp $cmd is not built yet"
      else
        bad "examples/ci/$name: '$line' names a command idp has" "$("$idp" help "$cmd" 2>&1)"
      fi
      continue
    fi
    [ "$cmd" = pipeline ] && sub=${w[2]:-}
    why=()
    for word in "${w[@]:2}"; do
      case $word in -*) ;; *) continue ;; esac
      flag=${word#-}
      flag=${flag#-}
      flag=${flag%%=*}
      grep -qE -- "(^|[^A-Za-z0-9-])--?$flag([^A-Za-z0-9-]|$)" "$tmp/help" || why+=("-$flag is not in 'idp help $cmd'")
    done
    # the line itself, in an empty directory: it fails (no spec, no plan file), but never on a flag
    (cd "$tmp/empty" && timeout 20 "$idp" "${w[@]:1}") >"$tmp/run.out" 2>"$tmp/run.err" </dev/null
    if grep -qE "unknown flag|error: bad -|unknown -format" "$tmp/run.err"; then why+=("$(cat "$tmp/run.err")"); fi
    [ ${#why[@]} -eq 0 ] && ok "examples/ci/$name: '$line': idp $cmd${sub:+ $sub} takes these flags" ||
      bad "examples/ci/$name: '$line': idp $cmd${sub:+ $sub} takes these flags" "${why[@]}"
  done < <(extract "$f")
  [ "$nlines" -ge 5 ] && ok "examples/ci/$name: $nlines idp command lines checked" ||
    bad "examples/ci/$name: idp command lines found" "only $nlines"
  for want in "idp plan -out plan.idpplan -detailed-exitcode" "idp show plan.idpplan -format markdown" \
    "idp apply plan.idpplan" "/hooks/ci" "Authorization: Bearer \$IDP_WEBHOOK_TOKEN" "IDP_STATE_KEY"; do
    grep -qF -- "$want" "$f" || bad "examples/ci/$name has '$want'"
  done
done

# --- the flow of the examples, on a local spec ------------------------------------------------
export IDP_STATE_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
state_home="$tmp/var-lib-idp/shop"
checkout() { # checkout DIR [STATE_DIR]: a fresh "checkout", the spec in infra/, .idp linked to STATE_DIR
  local states=${2:-$state_home}
  rm -rf "$1" && mkdir -p "$1/infra" && cp "$root/tests/plan/refresh/main.idp" "$1/infra/"
  "$idp" fmt "$1/infra" >/dev/null # the repository's files are formatted (fmt -check below)
  mkdir -p "$states" && ln -sfn "$states" "$1/infra/.idp"
}
step() { # step NAME WANT_RC ARGS...: idp ARGS in $dir; leaves $out
  local name=$1 want=$2
  shift 2
  (cd "$dir" && timeout 60 "$idp" "$@") >"$tmp/step.out" 2>"$tmp/step.err" </dev/null
  local rc=$?
  out=$(cat "$tmp/step.out")
  if [ "$rc" -eq "$want" ]; then ok "ci flow: $name (exit $rc)"; else bad "ci flow: $name (exit $rc, want $want)" "$out" "$(cat "$tmp/step.err")"; fi
}
checkout "$tmp/job1"
dir=$tmp/job1/infra
step "idp validate" 0 validate
step "idp fmt -check" 0 fmt -check
step "idp plan -out plan.idpplan -detailed-exitcode -lock-timeout 5m -no-color: changes" 2 \
  plan -out plan.idpplan -detailed-exitcode -lock-timeout 5m -no-color
step "idp show plan.idpplan -format markdown" 0 show plan.idpplan -format markdown
if [ "$(head -1 <<<"$out")" = "## idp plan" ] && grep -qxF '**Plan: 1 to add, 0 to change, 0 to destroy.**' <<<"$out" &&
  grep -qF '| `env.dev/app.web/need.workload/gitops.deployment.app` | `+` create |' <<<"$out" &&
  grep -qF 'TOKEN = (secret)' <<<"$out" && ! grep -q 'refresh-test-token' <<<"$out" && ! grep -q $'\e' <<<"$out"; then
  ok "ci flow: the markdown has the heading, the counts, the table, secrets as (secret)"
else
  bad "ci flow: the markdown has the heading, the counts, the table, secrets as (secret)" "$out"
fi
[ "$(stat -c %a "$dir/plan.idpplan")" = 600 ] && ! grep -q 'refresh-test-token' "$dir/plan.idpplan" &&
  ok "ci flow: the saved plan is mode 0600 and holds no plaintext secret" ||
  bad "ci flow: the saved plan is mode 0600 and holds no plaintext secret" "$(ls -l "$dir/plan.idpplan")"
step "idp apply plan.idpplan -lock-timeout 5m -no-color" 0 apply plan.idpplan -lock-timeout 5m -no-color
[ -f "$state_home/state/dev.json" ] && ok "ci flow: the state went to the linked persistent directory" ||
  bad "ci flow: the state went to the linked persistent directory" "$(ls -lR "$state_home" 2>&1)"
step "idp apply of the same plan again: stale, refused" 1 apply plan.idpplan -no-color
grep -q "the plan is stale" "$tmp/step.err" || bad "ci flow: the second apply names the stale plan" "$(cat "$tmp/step.err")"
checkout "$tmp/job2"
dir=$tmp/job2/infra
# the real objects: the gitops driver's files, outside this checkout in real life
ln -s "$tmp/job1/infra/rendered" "$dir/rendered" && ln -s "$tmp/job1/infra/secrets" "$dir/secrets"
step "another checkout, the same states: idp plan -detailed-exitcode finds no changes" 0 \
  plan -out plan.idpplan -detailed-exitcode -lock-timeout 5m -no-color
step "idp show of a no-change plan" 0 show plan.idpplan -format markdown
grep -qxF '**No changes.**' <<<"$out" || bad "ci flow: a no-change plan's markdown says No changes." "$out"

# --- the -json streams match docs/ci.md ------------------------------------------------------
checkout "$tmp/json" "$tmp/states-json"
dir=$tmp/json/infra
(cd "$dir" && "$idp" apply -json -auto-approve) >"$tmp/apply.jsonl" 2>"$tmp/apply.err"
r1=$?
sed -i 's/replicas: 1/replicas: 2/' "$dir/rendered/dev/web.yaml" # drift: the saved plan puts it back
(cd "$dir" && "$idp" plan -out p2.idpplan -no-color >/dev/null && "$idp" apply p2.idpplan -json) >"$tmp/apply2.jsonl" 2>>"$tmp/apply.err"
r2=$?
(cd "$dir" && "$idp" destroy -json -auto-approve) >"$tmp/destroy.jsonl" 2>>"$tmp/apply.err"
r3=$?
(cd "$dir" && "$idp" destroy -json -auto-approve) >"$tmp/destroy2.jsonl" 2>>"$tmp/apply.err"
r4=$?
if [ "$r1$r2$r3$r4" != 0000 ]; then
  bad "-json streams: apply, apply PLANFILE, destroy, destroy with nothing left" "exits $r1 $r2 $r3 $r4" "$(cat "$tmp/apply.err")"
elif ! command -v python3 >/dev/null; then
  echo "ok - -json streams match docs/ci.md # SKIP no python3"
elif python3 - "$root/docs/ci.md" "$tmp/apply.jsonl" "$tmp/apply2.jsonl" "$tmp/destroy.jsonl" "$tmp/destroy2.jsonl" \
  >"$tmp/py" 2>&1 <<'EOF'; then
import json, re, sys
doc = open(sys.argv[1]).read()
# the field tables of docs/ci.md: a '#### `{"type": "T"}`' heading, then | `field`, `field` | ... rows
fields = {}
for t, table in re.findall(r'#### `\{"type": "(\w+)"\}`\n(.*?)(?=\n#### |\Z)', doc, re.S):
    names = set()
    for row in re.findall(r'^\| (`[^|]*`) \|', table, re.M):
        names.update(re.findall(r'`(\w+)`', row))
    fields[t] = names
assert set(fields) == {"plan", "step", "summary"}, fields.keys()
streams = [[json.loads(l) for l in open(f)] for f in sys.argv[2:]]
for s in streams:
    for e in s:
        t = e["type"]
        extra = set(e) - fields[t]
        assert not extra, (t, "fields not in docs/ci.md", extra)
apply, apply2, destroy, destroy2 = streams
assert [e["type"] for e in apply] == ["plan", "step", "step", "summary"], apply
assert [e.get("event") for e in apply[1:3]] == ["start", "done"], apply
assert apply[0] == {"type": "plan", "add": 1, "change": 0, "destroy": 0, "resource_drift": []}, apply[0]
assert apply[2]["op"] == "create" and apply[2]["finished"] == 1 and apply[2]["total"] == 1 and apply[2]["elapsed"] >= 0
assert apply[3]["added"] == 1 and apply[3]["failed"] == 0 and apply[3]["interrupted"] is False, apply[3]
# a saved plan: no plan line
assert [e["type"] for e in apply2] == ["step", "step", "summary"], apply2
assert apply2[1]["op"] == "update" and apply2[2]["changed"] == 1, apply2
assert [e["type"] for e in destroy] == ["plan", "step", "step", "summary"] and destroy[1]["op"] == "delete", destroy
assert destroy[3]["destroyed"] == 1, destroy
# nothing to do: the plan line alone
assert destroy2 == [{"type": "plan", "add": 0, "change": 0, "destroy": 0, "resource_drift": []}], destroy2
print("ok")
EOF
  ok "-json streams of apply, apply PLANFILE and destroy: the events and fields docs/ci.md documents"
else
  bad "-json streams of apply, apply PLANFILE and destroy: the events and fields docs/ci.md documents" "$(cat "$tmp/py")" \
    "$(cat "$tmp/apply.jsonl" "$tmp/apply2.jsonl" "$tmp/destroy.jsonl")"
fi

# --- exit codes as docs/ci.md lists them -----------------------------------------------------
checkout "$tmp/ec" "$tmp/states-ec"
dir=$tmp/ec/infra
step "plan -bogus: 1 (plan keeps 2 for changes)" 1 plan -bogus
step "apply -bogus: 1" 1 apply -bogus
step "show -bogus: 2" 2 show -bogus
step "show -format yaml: 2" 2 show x.idpplan -format yaml
step "show of a missing file: 1" 1 show nosuch.idpplan
step "validate -bogus: 2" 2 validate -bogus
printf 'env "dev" {\n      type = "development"\n}\n' >"$dir/ugly.idp"
step "fmt -check with a file to format: 3" 3 fmt -check
rm -f "$dir/ugly.idp"
step "plan -refresh=false -detailed-exitcode with changes: 2" 2 plan -refresh=false -detailed-exitcode
