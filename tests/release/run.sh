#!/usr/bin/env bash
# tests/release/run.sh IDP_BINARY - the design baseline's shop release pipeline end to end (issue 6's
# "done when"), against real servers on loopback: a docker-registry whose `notifications` point at
# `idp serve` (with the IDP_WEBHOOK_TOKEN header), PowerDNS, PostgreSQL, and the fake Kubernetes
# API server of tests/k8s for prod. One TAP line per scenario:
#
#   1. a reviewed apply of dev, staging and prod (v1.0.0): prod's shop keeps that image as its pin;
#      once serve is up, the registry delivers the notifications of those pushes it had queued:
#      run shop-release-1 deploys v1.0.0, which changes nothing, and is cancelled at prod's approval
#   2. a push of acme/shop v1.1.0: the registry notifies serve, run shop-release-2 deploys exactly
#      the pushed digest to dev and staging (the rendered manifests and the record), changes only
#      the image (decision 10: a LOG_LEVEL change pending in the spec is left and listed), and
#      waits for approval at prod; ordinary plans of dev and prod change nothing (decision 9: prod
#      keeps v1.0.0 until the pipeline moves it)
#   3. the same delivery replayed starts nothing new; a wrong token gets 401 and starts nothing
#   4. `idp pipeline approve` releases prod: the deployment on the cluster carries the digest
#   5. a push of v1.2.0 (run shop-release-3), prod approved while the test holds the run's lock so
#      that serve drives it, serve killed with kill -9 in the middle of prod's rollout and started
#      again: the run resumes and succeeds, dev and staging are not deployed again, and the cluster
#      saw one image change
#
# Without the servers the suite skips, or fails under CI (tests/services/common.sh). Prints TAP
# lines; exits 0 (tests/run.sh counts).
set -u

# usage, idp, here, root, LC_ALL, tmp and ok / bad / fail / check: tests/suite.sh
# shellcheck source=../suite.sh
. "$(dirname "$0")/../suite.sh" release "$@" || exit 0
baseline=${IDP_BASELINE:-$root/../shared/design/baseline}
serve_pid=

# shellcheck source=../services/powerdns.sh
. "$root/tests/services/powerdns.sh"
# shellcheck source=../services/postgres.sh
. "$root/tests/services/postgres.sh"
# shellcheck source=../services/registry.sh
. "$root/tests/services/registry.sh"
cleanup() {
  [ -n "$serve_pid" ] && kill -9 "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
  pdns_stop
  pg_stop
  registry_stop
  if declare -F k8s_fake_stop >/dev/null; then k8s_fake_stop; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# --- the servers -------------------------------------------------------------------------------
if [ ! -d "$baseline" ]; then
  echo "ok - release # SKIP no design baseline at $baseline"
  exit 0
fi
for svc in pdns pg registry; do
  if ! why=$("${svc}_check" 2>&1); then
    if "${svc}_required"; then bad "$svc installed" "$why"; else echo "ok - release # SKIP $why"; fi
    exit 0
  fi
done
# shellcheck source=../k8s/lib.sh
if ! . "$root/tests/k8s/lib.sh" release "$(dirname "$idp")"; then
  bad "setup: the fake Kubernetes API server is not built"
  exit 0
fi
TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
port=$(svc_free_port)
# The registry notifies serve of every push (docker-registry's own notifications, retried with a
# backoff until serve answers).
REGISTRY_CONFIG_EXTRA="notifications:
  endpoints:
    - name: idp
      url: http://127.0.0.1:$port/hooks/registry
      headers:
        Authorization: [Bearer $TOKEN]
      timeout: 2s
      threshold: 5
      backoff: 1s"
for svc in pdns pg registry; do
  if ! "${svc}_start" 2>"$tmp/start.err"; then
    bad "setup: $svc starts" "$(cat "$tmp/start.err")"
    exit 0
  fi
done
unset REGISTRY_CONFIG_EXTRA
# A slow rollout, so that scenario 5 can kill serve in the middle of prod's deploy.
if ! mkdir -p "$tmp/k8s" || ! k8s_fake_start "$tmp/k8s" -rollout-ms 3000 >"$tmp/k8s.out" 2>&1; then
  bad "setup: the fake Kubernetes API server starts" "$(cat "$tmp/k8s.out")"
  exit 0
fi
python3 -c 'import sys; t = open(sys.argv[1]).read()
t = t.replace("- name: fake\n  context:", "- name: prod\n  context:").replace("current-context: fake", "current-context: prod")
open(sys.argv[2], "w").write(t)' "$K8S_KUBECONFIG" "$tmp/k8s/prod.kubeconfig"
export KUBECONFIG="$tmp/k8s/prod.kubeconfig"
kget() { curl -s --cacert "$K8S_CA" -H "Authorization: Bearer $K8S_TOKEN" "$K8S_SERVER/$1"; }
# deployment FIELD: the shop-prod/shop deployment's image, or its generation.
deployment() {
  kget apis/apps/v1/namespaces/shop-prod/deployments/shop | python3 -c 'import json, sys
d = json.load(sys.stdin)
print(d["spec"]["template"]["spec"]["containers"][0]["image"] if sys.argv[1] == "image" else d["metadata"]["generation"])' "$1" 2>/dev/null
}

declare -A digest
for r in acme/shop acme/billing; do
  if ! digest[$r]=$(registry_push "$r" v1.0.0); then
    bad "setup: pushing $r:v1.0.0"
    exit 0
  fi
done
export REGISTRY_URL
export MANIFEST_DIR="$tmp/rendered" SECRETS_DIR="$tmp/secrets"
IDP_STATE_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export IDP_STATE_KEY
base="$tmp/base"
mkdir -p "$base" "$tmp/log"
cp "$baseline"/*.idp "$base/"

n=0
# run ARGS...: idp ARGS in the spec dir; sets rc, out, err.
run() {
  n=$((n + 1))
  (cd "$base" && timeout 120 "$idp" "$@") >"$tmp/log/$n.out" 2>"$tmp/log/$n.err" </dev/null
  rc=$?
  out=$(cat "$tmp/log/$n.out")
  err=$(cat "$tmp/log/$n.err")
}
ran() { printf 'idp %s: exit %s\nstdout:\n%s\nstderr:\n%s\n' "$*" "$rc" "$out" "$err"; }
# field RUN EXPR: a Python expression over the run record r (idp pipeline status RUN -json).
field() {
  (cd "$base" && "$idp" pipeline status "$1" -json 2>/dev/null) | python3 -c 'import json, sys
try:
    r = json.load(sys.stdin)
except ValueError:
    print("(no record)")
    sys.exit(0)
st = {s["name"]: s for s in r.get("stages", [])}
step = lambda stage, kind: next((x for x in st[stage].get("steps", []) if x["kind"] == kind), {})
print(eval(sys.argv[1]))' "$2"
}
# wait_for RUN EXPR VALUE [SECONDS]: until field RUN EXPR prints VALUE.
wait_for() {
  local i
  for i in $(seq 1 $((${4:-60} * 5))); do
    [ "$(field "$1" "$2")" = "$3" ] && return 0
    sleep 0.2
  done
  return 1
}
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }
runs() { ls "$base/.idp/runs/" 2>/dev/null | grep -c '\.json$'; }
start_serve() {
  (cd "$base" && IDP_WEBHOOK_TOKEN=$TOKEN exec "$idp" serve -listen "127.0.0.1:$port" -rescan 1s) >>"$tmp/serve.log" 2>&1 &
  serve_pid=$!
  local i
  for i in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz")" = 200 ] && return 0
    sleep 0.1
  done
  return 1
}
# post TOKEN BODY: POST /hooks/registry; prints the status.
post() {
  curl -s -o "$tmp/post.out" -w '%{http_code}' -H "Authorization: Bearer $1" \
    -H 'Content-Type: application/vnd.docker.distribution.events.v1+json' --data-binary "$2" \
    "http://127.0.0.1:$port/hooks/registry"
}

# --- 1. the reviewed apply -----------------------------------------------------------------------
run apply -env dev -env staging -env prod -auto-approve
[ "$rc" -eq 0 ] || fail "$(ran apply -env dev -env staging -env prod -auto-approve)"
v1="$REGISTRY_HOST/acme/shop@${digest[acme/shop]}"
[ "$(deployment image)" = "$v1" ] || fail "prod deployment: '$(deployment image)', want $v1"
pin=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["pins"]["shop"]["image"])' "$base/.idp/state/prod.json" 2>&1)
[ "$pin" = "$v1" ] || fail "prod's state pins shop to '$pin', want $v1"
if ! start_serve; then
  bad "1. idp serve starts" "$(cat "$tmp/serve.log")"
  exit 0
fi
# docker-registry retries a delivery until it is taken: the v1.0.0 pushes arrive now.
wait_for shop-release-1 'r["status"]' waiting 60 || fail "run shop-release-1: $(field shop-release-1 'r.get("status"), r.get("error")')"
[ "$(field shop-release-1 'r["image"]')" = "$v1" ] || fail "run 1's image: $(field shop-release-1 'r["image"]'), want $v1"
got=$(field shop-release-1 'step("dev", "deploy")["plan"], step("staging", "deploy")["plan"]')
[ "$got" = "({'add': 0, 'change': 0, 'destroy': 0}, {'add': 0, 'change': 0, 'destroy': 0})" ] ||
  fail "run 1 deployed what was there already: $got"
run pipeline cancel shop-release-1 -by test
[ "$rc" -eq 0 ] && [ "$(field shop-release-1 'r["status"]')" = cancelled ] || fail "$(ran pipeline cancel shop-release-1)"
check "1. a reviewed apply of dev, staging and prod; prod keeps v1.0.0 as its pin; the queued v1.0.0 run changes nothing"

# --- 2. a push notifies serve; dev and staging get the digest; prod waits -----------------------
# A change of the app that needs a reviewed apply, made before the push: the deploys leave it.
cp "$base/shop.idp" "$tmp/shop.idp.orig"
sed -i 's/"info" : "debug"/"info" : "trace"/' "$base/shop.idp"
grep -q '"trace"' "$base/shop.idp" || fail "the LOG_LEVEL edit did not apply to shop.idp"
t0=$(date +%s.%N)
d1=$(registry_push acme/shop v1.1.0)
v2="$REGISTRY_HOST/acme/shop@$d1"
if ! wait_for shop-release-2 'r["status"]' waiting 60; then
  fail "run shop-release-2 did not reach waiting: $(field shop-release-2 'r.get("status"), r.get("error")')" "$(tail -20 "$tmp/serve.log")"
fi
echo "# release: from the push to dev and staging deployed and prod waiting: $(since "$t0") s"

[ "$(field shop-release-2 'r["image"]')" = "$v2" ] || fail "the run's image: $(field shop-release-2 'r["image"]'), want $v2"
got=$(field shop-release-2 '" ".join(s["name"] + ":" + s["status"] for s in r["stages"])')
[ "$got" = "dev:succeeded staging:succeeded prod:waiting" ] || fail "stages: $got"
got=$(field shop-release-2 'r["trigger"]["kind"], r["trigger"]["tag"]')
[ "$got" = "('registry', 'v1.1.0')" ] || fail "trigger: $got"
for e in dev staging; do
  got=$(field shop-release-2 "step('$e', 'deploy')['plan'], step('$e', 'deploy')['first']")
  [ "$got" = "({'add': 0, 'change': 1, 'destroy': 0}, False)" ] || fail "$e's deploy: $got, want only the workload changed"
  f=$(grep -rlF "$v2" "$MANIFEST_DIR/$e" 2>/dev/null | head -1)
  [ -n "$f" ] || fail "no manifest under $MANIFEST_DIR/$e has image $v2: $(grep -rh 'image:' "$MANIFEST_DIR/$e")"
  # decision 10: the new LOG_LEVEL waits for a reviewed apply, listed as pending; the old one stays
  # a plain value, the secret DATABASE_URL a secretKeyRef
  got=$(field shop-release-2 "[(p['address'], p['attributes']) for p in step('$e', 'deploy')['pending']]")
  [ "$got" = "[('env.$e/app.shop/need.workload/gitops.deployment.app', ['env'])]" ] || fail "$e's pending changes: $got"
  got=$(grep -A1 'name: LOG_LEVEL' "$MANIFEST_DIR/$e/shop.yaml" | tr -d ' \n')
  [ "$got" = "-name:LOG_LEVELvalue:debug" ] || fail "$e's LOG_LEVEL after the deploy: '$got', want the plain value debug"
  grep -A1 'name: DATABASE_URL' "$MANIFEST_DIR/$e/shop.yaml" | grep -q valueFrom || fail "$e's DATABASE_URL is no secretKeyRef"
done
run plan -env dev -detailed-exitcode
[ "$rc" -eq 2 ] && case $out in *'LOG_LEVEL = "trace"'*'Plan: 0 to add, 1 to change, 0 to destroy.'*) true ;; *) false ;; esac ||
  fail "an ordinary plan does not show the pending LOG_LEVEL change: $(ran plan -env dev)"
cp "$tmp/shop.idp.orig" "$base/shop.idp"
[ "$(grep -rh 'image:' "$MANIFEST_DIR" | grep -c acme/shop@)" = 2 ] || fail "shop manifests: $(grep -rh 'image:' "$MANIFEST_DIR")"
[ "$(deployment image)" = "$v1" ] || fail "prod deployed before approval: $(deployment image)"
run plan -env dev -env staging -env prod -detailed-exitcode
[ "$rc" -eq 0 ] || fail "an ordinary plan after the pipeline changes something (decision 9): $(ran plan)"
case $err in *"app shop in prod keeps $v1"*) ;; *) fail "the plan does not say prod keeps v1.0.0: $err" ;; esac
check "2. a push reaches serve: dev and staging get exactly $d1 (only the image; a pending change of the app is left and listed), prod waits; plans change nothing"

# --- 3. replays and wrong tokens start nothing -------------------------------------------------
event=$(field shop-release-2 'r["trigger"]["event"]')
envelope=$(python3 -c 'import json, sys
print(json.dumps({"events": [{"id": sys.argv[1], "timestamp": "2026-11-27T10:10:56Z", "action": "push",
  "target": {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": sys.argv[2],
             "repository": "acme/shop", "url": "http://%s/v2/acme/shop/manifests/%s" % (sys.argv[3], sys.argv[2]),
             "tag": "v1.1.0"},
  "request": {"id": "r1", "addr": "127.0.0.1:1", "host": sys.argv[3], "method": "PUT", "useragent": "curl"},
  "actor": {}, "source": {"addr": "x", "instanceID": "y"}}]}))' "$event" "$d1" "$REGISTRY_HOST")
before=$(runs)
code=$(post "$TOKEN" "$envelope")
[ "$code" = 200 ] || fail "the replay got $code: $(cat "$tmp/post.out")"
code=$(post "wrong-$TOKEN" "${envelope/$event/another-event}")
[ "$code" = 401 ] || fail "a wrong token got $code, want 401"
sleep 1
[ "$(runs)" = "$before" ] || fail "runs: $(runs), want $before: $(ls "$base/.idp/runs")"
grep -q "wrong-$TOKEN" "$tmp/serve.log" && fail "serve logged the wrong token"
check "3. a replayed delivery starts nothing new; a wrong token gets 401 and starts nothing"

# --- 4. approve prod ------------------------------------------------------------------------------
t0=$(date +%s.%N)
run pipeline approve shop-release-2 prod -by alice
[ "$rc" -eq 0 ] || fail "$(ran pipeline approve shop-release-2 prod -by alice)"
wait_for shop-release-2 'r["status"]' succeeded 60 || fail "run: $(field shop-release-2 'r["status"], r.get("error")')"
echo "# release: approve to prod deployed (a 3 s rollout on the fake cluster): $(since "$t0") s"
[ "$(deployment image)" = "$v2" ] || fail "prod deployment: '$(deployment image)', want $v2"
[ "$(field shop-release-2 'r["approvals"][0]["by"]')" = alice ] || fail "approvals: $(field shop-release-2 'r["approvals"]')"
check "4. idp pipeline approve releases prod: the cluster's deployment carries $d1"

# --- 5. serve killed in the middle of prod's rollout, started again -----------------------------
d2=$(registry_push acme/shop v1.2.0)
v3="$REGISTRY_HOST/acme/shop@$d2"
wait_for shop-release-3 'r["status"]' waiting 60 || fail "run 3: $(field shop-release-3 'r.get("status"), r.get("error")')"
dev_done=$(field shop-release-3 'step("dev", "deploy")["finished"]')
manifests=$(stat -c '%Y %n' "$MANIFEST_DIR"/dev/* "$MANIFEST_DIR"/staging/* 2>/dev/null | sort)
gen=$(deployment generation)
# The approval is recorded while this script holds the run's lock (flock(1) on the file idp
# flocks), so `approve` leaves the driving to whoever holds it next: serve's rescan, which is then
# killed once prod's deploy is under way.
n=$((n + 1))
(cd "$base" && flock .idp/runs/shop-release-3.lock "$idp" pipeline approve shop-release-3 prod -by bob) \
  >"$tmp/log/$n.out" 2>&1 </dev/null
rc=$?
[ "$rc" -eq 0 ] || fail "approve under a held lock: exit $rc: $(cat "$tmp/log/$n.out")"
[ "$(field shop-release-3 'r["approvals"][0]["by"]')" = bob ] || fail "approvals: $(field shop-release-3 'r.get("approvals")')"
if wait_for shop-release-3 'step("prod", "deploy").get("status")' running 30; then
  sleep 0.5
  kill -9 "$serve_pid"
  wait "$serve_pid" 2>/dev/null
  serve_pid=
  sleep 0.5
  got=$(field shop-release-3 'r["status"], step("prod", "deploy").get("status")')
  [ "$got" = "('running', 'running')" ] || fail "after kill -9, the record says $got, want the deploy still running"
  start_serve || fail "serve does not start again: $(tail -5 "$tmp/serve.log")"
  wait_for shop-release-3 'r["status"]' succeeded 60 || fail "run 3 after the restart: $(field shop-release-3 'r["status"], r.get("error")')"
else
  fail "prod's deploy never started: $(field shop-release-3 'r["status"], r["stages"][-1]')"
fi
[ "$(deployment image)" = "$v3" ] || fail "prod deployment: '$(deployment image)', want $v3"
[ "$(deployment generation)" = $((gen + 1)) ] || fail "generation $(deployment generation), want $((gen + 1)): one image change"
[ "$(field shop-release-3 'step("dev", "deploy")["finished"]')" = "$dev_done" ] || fail "dev's deploy was run again"
[ "$(stat -c '%Y %n' "$MANIFEST_DIR"/dev/* "$MANIFEST_DIR"/staging/* 2>/dev/null | sort)" = "$manifests" ] ||
  fail "dev or staging manifests were written again"
[ "$(runs)" = 3 ] || fail "runs: $(ls "$base/.idp/runs")"
run plan -env prod -detailed-exitcode
[ "$rc" -eq 0 ] || fail "after the run, prod plans changes: $(ran plan -env prod)"
check "5. serve killed with kill -9 during prod's rollout and started again: the run resumes, nothing deployed twice"
