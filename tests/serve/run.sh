#!/usr/bin/env bash
# tests/serve/run.sh IDP_BINARY - the pipelines' triggers, `idp serve` and `idp watch`, against a
# real docker-registry on loopback (tests/services/registry.sh) whose `notifications` endpoint is
# `idp serve` with the bearer token. The pipelines' stages are approvals (and a short wait), so
# nothing here depends on the deploy step. One TAP line per scenario:
#
#   1. serve refuses to start without IDP_WEBHOOK_TOKEN (unset or empty), and on a bad -listen
#   2. /healthz answers without a token; a hook without one gets 401
#   3. an image pushed with curl: the registry notifies serve, one run of the matching pipeline
#      with exactly the pushed digest (the record), driven until it waits for its approval
#   4. the same delivery replayed with curl: 200 "deduplicated", no new run
#   5. a wrong token, a missing one, another scheme: 401, no run, logged without the body or token
#   6. pushes of a tag or repository no trigger matches (a pre-release under v*), of a tag older
#      than the newest of the pattern, a pull, a blob, another registry's event: ignored (200), no run
#   7. malformed JSON, a body that is no envelope, a 2 MiB body (with and without Expect):
#      400, no run; a wrong content type 415; serve still answers
#   8. /hooks/ci: a digest of the repository starts a run (202) with that digest; the same again
#      answers that run (200); a digest not in the repository 422; an unknown pipeline 404;
#      another repository 422; a tag that is no digest 422; a matching tag resolves
#   9. /metrics: the counters of what came before, exactly
#  10. `idp pipeline approve` from another process: serve's rescan drives the run to succeeded;
#      a replay after the run finished still starts nothing
#  11. kill -9 serve while a run is in a wait step: its driver dies with it; a restarted serve
#      finishes the run, no run is created twice, and the stage ran once
#  12. SIGTERM while a driver runs: serve stops (exit 0), the driver with it, the run resumable
#  13. `idp watch -once`: the first look records without starting a run; a new tag starts one
#      with its digest; another -once starts nothing; -min-request-interval paces the requests;
#      a second watch on the same directory is refused
#  14. no sanitizer report in any log (serve's, the drivers')
#
# Without docker-registry the suite skips, or fails under CI (tests/services/common.sh). Exits 0
# (tests/run.sh counts the lines).
set -u

# usage, idp, here, root, LC_ALL, tmp and ok / bad / fail / check: tests/suite.sh
# shellcheck source=../suite.sh
. "$(dirname "$0")/../suite.sh" serve "$@" || exit 0
spid=

# shellcheck source=../services/registry.sh
. "$root/tests/services/registry.sh"
cleanup() {
  if [ -n "$spid" ]; then
    kill -9 "$spid" 2>/dev/null
    wait "$spid" 2>/dev/null
  fi
  registry_stop
  rm -rf "$tmp"
}
trap cleanup EXIT

if ! command -v python3 >/dev/null 2>&1; then
  echo "ok - serve # SKIP python3 is not installed (the tests read JSON with it)"
  exit 0
fi
if ! why=$(registry_check 2>&1); then
  if registry_required; then bad "docker-registry installed" "$why"; else echo "ok - serve # SKIP $why"; fi
  exit 0
fi

# --- the registry, notifying serve --------------------------------------------------------------
TOKEN="tok-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
SPORT=$(svc_free_port)
HOOK="http://127.0.0.1:$SPORT"
REGISTRY_CONFIG_EXTRA="notifications:
  endpoints:
    - name: idp
      url: $HOOK/hooks/registry
      headers:
        Authorization: [Bearer $TOKEN]
      timeout: 2s
      threshold: 5
      backoff: 1s
      ignoredmediatypes: [application/octet-stream]
      ignore:
        actions: [pull]"
if ! registry_start 2>"$tmp/start.err"; then
  bad "docker-registry starts" "$(cat "$tmp/start.err")"
  exit 0
fi
unset REGISTRY_CONFIG_EXTRA
export REGISTRY_URL

spec="$tmp/spec"
mkdir -p "$spec"
cat >"$spec/main.idp" <<'EOF'
integration oci_registry "main" {
  url = env("REGISTRY_URL", "http://127.0.0.1:5000")
}

# Every v* tag of acme/shop waits for one approval.
pipeline "gate" {
  trigger "image_push" {
    registry   = integration.main
    repository = "acme/shop"
    tag        = "v*"
  }

  stage "hold" {
    approval {
      approvers = 1
    }
  }
}

# rc-* tags of acme/tool: a short wait, then an approval.
pipeline "slow" {
  trigger "image_push" {
    registry   = integration.main
    repository = "acme/tool"
    tag        = "rc-*"
  }

  stage "pause" {
    wait {
      duration = "4s"
    }
  }

  stage "hold" {
    after = ["pause"]
    approval {
      approvers = 1
    }
  }
}
EOF
runs="$spec/.idp/runs"

# --- helpers -------------------------------------------------------------------------------------
# jget FILE EXPR: a value of the JSON in FILE, EXPR a Python expression over `d` (e.g. d["id"]).
jget() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); v=eval(sys.argv[2]); print(v if not isinstance(v,(dict,list)) else json.dumps(v))' "$1" "$2" 2>/dev/null; }
jstr() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); v=eval(sys.argv[2]); print(v if not isinstance(v,(dict,list)) else json.dumps(v))' "$1" "$2" 2>/dev/null; }
nruns() { find "$runs" -maxdepth 1 -name '*.json' 2>/dev/null | wc -l; }
# run_field RUN EXPR
run_field() { jget "$runs/$1.json" "$2"; }
# wait_until SECONDS CMD...: until CMD succeeds.
wait_until() {
  local n=$(($1 * 20))
  shift
  for _ in $(seq 1 "$n"); do
    "$@" && return 0
    sleep 0.05
  done
  return 1
}
status_is() { [ "$(run_field "$1" 'd["status"]')" = "$2" ]; }
has_runs() { [ "$(nruns)" -eq "$1" ]; }
# post PATH BODY [CURL ARGS...]: POST with the token; sets code and body.
post() {
  local path=$1 data=$2
  shift 2
  body=$(curl -sS -o - -w '\n%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/vnd.docker.distribution.events.v1+json' --data-binary "$data" "$@" "$HOOK$path" 2>&1)
  code=$(tail -1 <<<"$body")
  body=$(sed '$d' <<<"$body")
}
# raw PATH BODY CURL ARGS...: POST without the default headers.
raw() {
  local path=$1 data=$2
  shift 2
  body=$(curl -sS -o - -w '\n%{http_code}' -X POST --data-binary "$data" "$@" "$HOOK$path" 2>&1)
  code=$(tail -1 <<<"$body")
  body=$(sed '$d' <<<"$body")
}
# envelope ID ACTION REPO TAG DIGEST [HOST]: an envelope as docker-registry 2.8 sends it.
envelope() {
  local host=${6:-$REGISTRY_HOST}
  printf '{"events":[{"id":"%s","timestamp":"2026-11-27T10:10:56.134488435Z","action":"%s","target":{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":451,"digest":"%s","length":451,"repository":"%s","url":"http://%s/v2/%s/manifests/%s","tag":"%s"},"request":{"id":"r-1","addr":"127.0.0.1:5555","host":"%s","method":"PUT","useragent":"curl/7.88.1"},"actor":{},"source":{"addr":"vm:1","instanceID":"i-1"}}]}' \
    "$1" "$2" "$5" "$3" "$host" "$3" "$5" "$4" "$host"
}
serve_log="$tmp/serve.log"
start_serve() {
  (cd "$tmp" && IDP_WEBHOOK_TOKEN=$TOKEN exec "$idp" serve "$spec" -listen "127.0.0.1:$SPORT" -rescan 300ms) >>"$serve_log" 2>&1 </dev/null &
  spid=$!
  wait_until 10 curl -sf -o /dev/null "$HOOK/healthz"
}
# proc_state PID: the state letter of /proc/PID/stat (R, S, Z, ...), empty when there is none.
proc_state() {
  local st
  st=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  st=${st##*) }
  echo "${st%% *}"
}
# children PID: the pids of PID's child processes (from /proc: procps may be missing).
children() {
  local d st rest
  for d in /proc/[0-9]*; do
    st=$(cat "$d/stat" 2>/dev/null) || continue
    rest=${st##*) }
    rest=${rest#* }
    [ "${rest%% *}" = "$1" ] && echo "${d#/proc/}"
  done
}

# --- 1. no token, no server ----------------------------------------------------------------------
out=$(cd "$tmp" && env -u IDP_WEBHOOK_TOKEN timeout 10 "$idp" serve "$spec" -listen "127.0.0.1:$SPORT" 2>&1)
rc=$?
[ "$rc" -eq 1 ] && grep -q 'IDP_WEBHOOK_TOKEN is not set' <<<"$out" || fail "unset token: exit $rc: $out"
out=$(cd "$tmp" && IDP_WEBHOOK_TOKEN= timeout 10 "$idp" serve "$spec" -listen "127.0.0.1:$SPORT" 2>&1)
rc=$?
[ "$rc" -eq 1 ] && grep -q 'IDP_WEBHOOK_TOKEN is not set' <<<"$out" || fail "empty token: exit $rc: $out"
out=$(cd "$tmp" && IDP_WEBHOOK_TOKEN=x timeout 10 "$idp" serve "$spec" --listen 127.0.0.1 2>&1)
rc=$?
[ "$rc" -eq 2 ] && grep -q "bad -listen '127.0.0.1'" <<<"$out" || fail "-listen without a port: exit $rc: $out"
curl -s -o /dev/null "$HOOK/healthz" && fail "something answers on $HOOK after the refusals"
check "refuses to start without IDP_WEBHOOK_TOKEN, or with a bad -listen"

# --- 2. healthz, and a hook without the token ----------------------------------------------------
if ! start_serve; then
  bad "serve starts" "$(tail -20 "$serve_log")"
  exit 0
fi
[ "$(curl -s "$HOOK/healthz")" = ok ] || fail "/healthz: '$(curl -s "$HOOK/healthz")'"
grep -q "pipeline gate: image_push of acme/shop:v\* on registry main ($REGISTRY_HOST)" "$serve_log" ||
  fail "the log does not name the triggers: $(head -5 "$serve_log")"
raw /hooks/registry '{"events":[]}' -H 'Content-Type: application/json'
[ "$code" = 401 ] || fail "hook without a token: $code $body"
check "/healthz answers without a token, a hook without one gets 401"

# --- 3. a push notifies serve: one run with the pushed digest ------------------------------------
d1=$(registry_push acme/shop v1.0.0)
wait_until 15 has_runs 1 || fail "no run after the push of acme/shop:v1.0.0 ($(nruns) runs); log: $(tail -5 "$serve_log")"
r1=gate-1
if [ -f "$runs/$r1.json" ]; then
  [ "$(run_field $r1 'd["image"]')" = "$REGISTRY_HOST/acme/shop@$d1" ] ||
    fail "run image $(run_field $r1 'd["image"]'), want $REGISTRY_HOST/acme/shop@$d1"
  [ "$(run_field $r1 'd["trigger"]["kind"]')" = registry ] || fail "trigger $(run_field $r1 'd["trigger"]')"
  [ "$(run_field $r1 'd["trigger"]["tag"]')" = v1.0.0 ] || fail "trigger tag $(run_field $r1 'd["trigger"]["tag"]')"
  event1=$(run_field $r1 'd["trigger"]["event"]')
  [ -n "$event1" ] || fail "the record keeps no event id"
  wait_until 15 status_is $r1 waiting || fail "run $r1 is $(run_field $r1 'd["status"]'), want waiting (for its approval)"
  [ -s "$runs/$r1.log" ] || fail "no driver log $runs/$r1.log"
fi
check "a push to the registry starts one run of the matching pipeline with the pushed digest"

# --- 4. the same delivery again --------------------------------------------------------------------
post /hooks/registry "$(envelope "$event1" push acme/shop v1.0.0 "$d1")"
[ "$code" = 200 ] || fail "replay: $code $body"
[ "$(jstr "$body" 'd["results"][0]["outcome"]')" = deduplicated ] && [ "$(jstr "$body" 'd["results"][0]["run"]')" = $r1 ] ||
  fail "replay answered: $body"
[ "$(jstr "$body" 'd["started"]')" = 0 ] || fail "replay started something: $body"
sleep 0.5
has_runs 1 || fail "$(nruns) runs after the replay, want 1"
check "a replayed delivery starts nothing new"

# --- 5. wrong or missing token -------------------------------------------------------------------
marker="BODY-MARKER-$RANDOM$RANDOM"
ev=$(envelope "ev-wrong-token-$marker" push acme/shop v1.0.0 "$d1")
raw /hooks/registry "$ev" -H 'Content-Type: application/json' -H "Authorization: Bearer wrong-$TOKEN"
[ "$code" = 401 ] || fail "wrong token: $code $body"
raw /hooks/registry "$ev" -H 'Content-Type: application/json'
[ "$code" = 401 ] || fail "no token: $code $body"
raw /hooks/registry "$ev" -H 'Content-Type: application/json' -H "Authorization: Basic $(printf 'x:%s' "$TOKEN" | base64 -w0)"
[ "$code" = 401 ] || fail "basic auth with the token as password: $code $body"
raw /hooks/ci "{\"pipeline\":\"gate\",\"image\":\"acme/shop@$d1\",\"x\":\"$marker\"}" -H 'Content-Type: application/json' -H "Authorization: Bearer ${TOKEN}x"
[ "$code" = 401 ] || fail "/hooks/ci with a wrong token: $code $body"
sleep 0.3
has_runs 1 || fail "$(nruns) runs after refused requests, want 1"
[ "$(grep -c '401 POST /hooks/' "$serve_log")" -eq 5 ] || fail "want 5 logged 401s (2. and 5.), have: $(grep '401 POST' "$serve_log")"
grep -q "401 POST /hooks/registry from 127.0.0.1:[0-9]*: wrong bearer token" "$serve_log" || fail "the 401 log line does not say why"
grep -q "$marker" "$serve_log" && fail "the log holds a refused request's body"
grep -qF "$TOKEN" "$serve_log" && fail "the log holds the token"
check "a wrong or missing token gets 401, starts nothing, and is logged without body or token"

# --- 6. ignored events -------------------------------------------------------------------------------
registry_push acme/shop latest >/dev/null   # the tag does not match v*
registry_push acme/other v1.0.0 >/dev/null  # no trigger on the repository
registry_push acme/shop v2.0.0-rc.1 >/dev/null # a pre-release: v* takes none, as registry_image()
registry_push acme/shop v0.9.0 >/dev/null   # older than v1.0.0: pipelines ship the newest tag
post /hooks/registry "$(envelope ev-pull pull acme/shop v1.0.0 "$d1")"
[ "$code" = 200 ] && [ "$(jstr "$body" 'd["results"][0]["outcome"]')" = ignored ] || fail "a pull: $code $body"
post /hooks/registry '{"events":[{"id":"ev-blob","action":"push","target":{"mediaType":"application/octet-stream","digest":"sha256:aaaa","repository":"acme/shop","url":"http://'"$REGISTRY_HOST"'/v2/acme/shop/blobs/sha256:aaaa"},"request":{"host":"'"$REGISTRY_HOST"'"}}]}'
[ "$code" = 200 ] && [ "$(jstr "$body" 'd["results"][0]["outcome"]')" = ignored ] || fail "a blob push: $code $body"
post /hooks/registry "$(envelope ev-other-registry push acme/shop v9.9.9 "$d1" 127.0.0.1:1)"
[ "$code" = 200 ] && [ "$(jstr "$body" 'd["results"][0]["outcome"]')" = ignored ] || fail "another registry's push: $code $body"
wait_until 10 grep -q "ignored: no image_push trigger matches acme/other:v1.0.0" "$serve_log" || fail "the push of acme/other was not ignored as such"
grep -q "ignored: no image_push trigger matches acme/shop:latest" "$serve_log" || fail "the push of acme/shop:latest was not ignored as such"
wait_until 10 grep -q "ignored: no image_push trigger matches acme/shop:v2.0.0-rc.1" "$serve_log" || fail "the pre-release push was not ignored as such"
wait_until 10 grep -q "acme/shop:v0.9.0 ignored: v1.0.0 is the newest tag of v\*" "$serve_log" || fail "the push of an older tag was not ignored as such"
sleep 0.3
has_runs 1 || fail "$(nruns) runs after ignored events, want 1"
check "pushes no trigger matches (a pre-release too), an older tag than the newest, pulls, blobs and other registries' events are ignored"

# --- 7. bad bodies ------------------------------------------------------------------------------------
post /hooks/registry '{"events": [ {"id": '
[ "$code" = 400 ] && grep -q 'malformed JSON' <<<"$body" || fail "malformed JSON: $code $body"
post /hooks/registry '{"foo": 1}'
[ "$code" = 400 ] && grep -q 'not a notification envelope' <<<"$body" || fail "no envelope: $code $body"
post /hooks/ci '[1,2]'
[ "$code" = 400 ] || fail "/hooks/ci with an array: $code $body"
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$tmp/big"
printf '%s' "$(envelope ev-big push acme/shop v1.0.0 "$d1")" >>"$tmp/big"
post /hooks/registry "@$tmp/big"
[ "$code" = 400 ] && grep -q 'larger than 1 MiB' <<<"$body" || fail "2 MiB body: $code $body"
post /hooks/registry "@$tmp/big" -H 'Expect:'
[ "$code" = 400 ] && grep -q 'larger than 1 MiB' <<<"$body" || fail "2 MiB body without Expect: $code $body"
post /hooks/registry "@$tmp/big" -H 'Transfer-Encoding: chunked'
[ "$code" = 400 ] && grep -q 'larger than 1 MiB' <<<"$body" || fail "2 MiB chunked body: $code $body"
raw /hooks/registry "$(envelope ev-xml push acme/shop v1.0.0 "$d1")" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: text/xml'
[ "$code" = 415 ] || fail "text/xml: $code $body"
sleep 0.3
has_runs 1 || fail "$(nruns) runs after bad bodies, want 1"
[ "$(curl -s "$HOOK/healthz")" = ok ] || fail "serve no longer answers"
check "malformed, foreign or oversized bodies get 400 (a wrong type 415) and change nothing"

# --- 8. /hooks/ci ------------------------------------------------------------------------------------
d2=$(registry_push acme/shop build-7) # no v* tag: the registry hook ignores it
post /hooks/ci "{\"pipeline\":\"gate\",\"image\":\"acme/shop@$d2\"}" -H 'Content-Type: application/json'
[ "$code" = 202 ] && [ "$(jstr "$body" 'd["outcome"]')" = started ] || fail "a digest of the repository: $code $body"
r2=$(jstr "$body" 'd["run"]')
[ "$r2" = gate-2 ] || fail "the CI run is '$r2', want gate-2"
[ "$(run_field gate-2 'd["image"]')" = "$REGISTRY_HOST/acme/shop@$d2" ] || fail "CI run image $(run_field gate-2 'd["image"]')"
[ "$(run_field gate-2 'd["trigger"]["kind"]')" = ci ] || fail "CI run trigger $(run_field gate-2 'd["trigger"]')"
post /hooks/ci "{\"pipeline\":\"gate\",\"image\":\"$REGISTRY_HOST/acme/shop@$d2\"}" -H 'Content-Type: application/json'
[ "$code" = 200 ] && [ "$(jstr "$body" 'd["outcome"]')" = deduplicated ] && [ "$(jstr "$body" 'd["run"]')" = gate-2 ] ||
  fail "the same digest again (with the registry's host): $code $body"
nodigest="sha256:$(printf 'not pushed' | sha256sum | cut -d' ' -f1)"
post /hooks/ci "{\"pipeline\":\"gate\",\"image\":\"acme/shop@$nodigest\"}" -H 'Content-Type: application/json'
[ "$code" = 422 ] && grep -q "is not in repository acme/shop" <<<"$body" || fail "a digest not in the repository: $code $body"
post /hooks/ci "{\"pipeline\":\"nope\",\"image\":\"acme/shop@$d2\"}" -H 'Content-Type: application/json'
[ "$code" = 404 ] && grep -q 'no pipeline \\"nope\\"' <<<"$body" || fail "an unknown pipeline: $code $body"
dother=$(registry_push acme/other v2.0.0)
post /hooks/ci "{\"pipeline\":\"gate\",\"image\":\"acme/other@$dother\"}" -H 'Content-Type: application/json'
[ "$code" = 422 ] && grep -q 'not a repository of pipeline gate' <<<"$body" || fail "another repository's digest: $code $body"
post /hooks/ci '{"pipeline":"gate","image":"acme/shop:v1.0.0"}' -H 'Content-Type: application/json'
[ "$code" = 422 ] && grep -q 'not pinned by digest' <<<"$body" || fail "a tag as image: $code $body"
post /hooks/ci '{"pipeline":"gate"}' -H 'Content-Type: application/json'
[ "$code" = 400 ] || fail "no image: $code $body"
post /hooks/ci '{"pipeline":"gate","tag":"v1.0.0"}' -H 'Content-Type: application/json'
[ "$code" = 200 ] && [ "$(jstr "$body" 'd["run"]')" = $r1 ] || fail "tag v1.0.0 (live in $r1): $code $body"
post /hooks/ci '{"pipeline":"gate","tag":"build-7"}' -H 'Content-Type: application/json'
[ "$code" = 422 ] && grep -q 'does not match' <<<"$body" || fail "a tag the trigger does not match: $code $body"
wait_until 10 grep -q "ignored: no image_push trigger matches acme/shop:build-7" "$serve_log" || fail "the push of build-7 was not ignored"
wait_until 10 grep -q "ignored: no image_push trigger matches acme/other:v2.0.0" "$serve_log" || fail "the push of acme/other:v2.0.0 was not ignored"
has_runs 2 || fail "$(nruns) runs after the CI requests, want 2"
check "/hooks/ci starts a run only for digests of the trigger's repository, once while it is live"

# --- 9. /metrics -----------------------------------------------------------------------------------
m=$(curl -s "$HOOK/metrics")
want() { # want METRIC VALUE
  local v
  v=$(awk -v k="$1" '$1 == k {print $2}' <<<"$m")
  [ "$v" = "$2" ] || fail "$1 is '$v', want $2"
}
want 'idp_serve_runs_started_total{trigger="registry"}' 1
want 'idp_serve_runs_started_total{trigger="ci"}' 1
want idp_serve_deliveries_deduplicated_total 3
want idp_serve_auth_failures_total 5
want idp_serve_events_ignored_total 9 # 6 pushes (latest, acme/other twice, build-7, v2.0.0-rc.1, v0.9.0), a pull, a blob, another registry
want 'idp_serve_requests_total{path="/hooks/registry",code="401"}' 4
want 'idp_serve_requests_total{path="/hooks/ci",code="422"}' 4
want 'idp_serve_requests_total{path="/hooks/ci",code="202"}' 1
want 'idp_serve_requests_total{path="/hooks/registry",code="415"}' 1
grep -q '^# TYPE idp_serve_requests_total counter$' <<<"$m" || fail "no TYPE line"
check "/metrics counts requests by path and status, runs, deduplications, auth failures, ignored events"

# --- 10. an approval from another process, picked up by serve --------------------------------------
out=$("$idp" pipeline approve $r1 hold -by alice "$spec" 2>&1) || fail "idp pipeline approve: $out"
wait_until 15 status_is $r1 succeeded || fail "run $r1 is $(run_field $r1 'd["status"]') after the approval, want succeeded"
post /hooks/registry "$(envelope "$event1" push acme/shop v1.0.0 "$d1")"
[ "$(jstr "$body" 'd["results"][0]["outcome"]')" = deduplicated ] || fail "a replay after the run finished: $code $body"
has_runs 2 || fail "$(nruns) runs, want 2"
check "an approval given by another process is picked up; a late replay still starts nothing"

# --- 11. kill -9 while a run is in a wait step ----------------------------------------------------
d3=$(registry_push acme/tool rc-1)
wait_until 15 has_runs 3 || fail "no run after the push of acme/tool:rc-1"
r3=slow-1
wait_until 10 status_is $r3 running || fail "run $r3 is $(run_field $r3 'd["status"]'), want running"
sleep 1
started=$(run_field $r3 'd["stages"][0]["steps"][0]["started"]')
drivers=$(children "$spid")
[ -n "$drivers" ] || fail "serve has no driver process"
{
  kill -9 "$spid"
  wait "$spid"
} 2>/dev/null
spid=
# gone: none of $drivers lives (a zombie left to an init that does not reap counts as gone).
gone() {
  local p st
  for p in $drivers; do
    st=$(proc_state "$p")
    case $st in '' | Z*) ;; *) return 1 ;; esac
  done
}
wait_until 1 gone || fail "drivers $drivers outlived serve"
[ "$(run_field $r3 'd["stages"][0]["status"]')" = running ] || fail "stage pause is $(run_field $r3 'd["stages"][0]["status"]') at the kill"
start_serve || fail "serve does not start again: $(tail -5 "$serve_log")"
wait_until 15 status_is $r3 waiting || fail "run $r3 is $(run_field $r3 'd["status"]') after the restart, want waiting"
[ "$(run_field $r3 'd["image"]')" = "$REGISTRY_HOST/acme/tool@$d3" ] || fail "run $r3 image $(run_field $r3 'd["image"]')"
[ "$(run_field $r3 'd["stages"][0]["status"]')" = succeeded ] || fail "stage pause: $(run_field $r3 'd["stages"][0]')"
[ "$(run_field $r3 'len(d["stages"][0]["steps"])')" = 1 ] || fail "stage pause steps: $(run_field $r3 'd["stages"][0]["steps"]')"
[ -n "$started" ] && [ "$(run_field $r3 'd["stages"][0]["steps"][0]["started"]')" = "$started" ] ||
  fail "the wait step started again: '$started', now $(run_field $r3 'd["stages"][0]["steps"][0]')"
has_runs 3 || fail "$(nruns) runs after the restart, want 3"
check "kill -9 mid-run: the drivers die with serve; a restarted serve resumes the run, nothing twice"

# --- 12. SIGTERM ---------------------------------------------------------------------------------------
registry_push acme/tool rc-2 >/dev/null
wait_until 15 has_runs 4 || fail "no run after the push of acme/tool:rc-2"
wait_until 10 status_is slow-2 running || fail "run slow-2 is $(run_field slow-2 'd["status"]'), want running"
drivers=$(children "$spid")
[ -n "$drivers" ] || fail "serve has no driver process for slow-2"
kill -TERM "$spid"
rc=0
wait "$spid" || rc=$?
spid=
[ "$rc" -eq 0 ] || fail "serve exited $rc on SIGTERM; log: $(tail -5 "$serve_log")"
grep -q 'stopped$' "$serve_log" || fail "no 'stopped' line"
gone || fail "drivers $drivers outlived serve's SIGTERM"
curl -s -o /dev/null "$HOOK/healthz" && fail "serve still answers"
status_is slow-2 running || fail "run slow-2 is $(run_field slow-2 'd["status"]') after the stop, want running (resumable)"
check "SIGTERM stops serve and its drivers; the run stays resumable"

# --- 13. idp watch -----------------------------------------------------------------------------------
wspec="$tmp/wspec"
mkdir -p "$wspec"
cat >"$wspec/main.idp" <<'EOF'
integration oci_registry "main" {
  url = env("REGISTRY_URL", "http://127.0.0.1:5000")
}

pipeline "shop" {
  trigger "image_push" {
    registry   = integration.main
    repository = "acme/shop"
    tag        = "v*"
  }

  stage "hold" {
    approval {
      approvers = 1
    }
  }
}

pipeline "fresh" {
  trigger "image_push" {
    registry   = integration.main
    repository = "acme/fresh"
    tag        = "v*"
  }

  stage "hold" {
    approval {
      approvers = 1
    }
  }
}
EOF
wruns="$wspec/.idp/runs"
wcount() { find "$wruns" -maxdepth 1 -name '*.json' 2>/dev/null | wc -l; }
out=$(timeout 60 "$idp" watch "$wspec" -once -min-request-interval 0 2>&1)
rc=$?
[ "$rc" -eq 0 ] || fail "first watch -once: exit $rc: $out"
grep -q "pipeline shop: first look at acme/shop:v\* on registry main: $REGISTRY_HOST/acme/shop@$d1 from tag v1.0.0" <<<"$out" ||
  fail "first look at shop: $out"
grep -q "pipeline fresh: first look at acme/fresh:v\* on registry main: no matching tag" <<<"$out" || fail "first look at fresh: $out"
[ "$(wcount)" -eq 0 ] || fail "the first look started $(wcount) runs"
[ "$(jget "$wspec/.idp/watch.json" 'd["kind"]')" = idp-watch ] || fail "watch.json: $(cat "$wspec/.idp/watch.json" 2>&1)"
d4=$(registry_push acme/shop v1.1.0)
d5=$(registry_push acme/fresh v0.1.0)
before=$(registry_requests '"GET /v2/|"HEAD /v2/')
start=$(date +%s%N)
out=$(timeout 60 "$idp" watch "$wspec" --once --min-request-interval 700ms 2>&1)
rc=$?
took=$((($(date +%s%N) - start) / 1000000))
after=$(registry_requests '"GET /v2/|"HEAD /v2/')
[ "$rc" -eq 0 ] || fail "second watch -once: exit $rc: $out"
[ "$(wcount)" -eq 2 ] || fail "$(wcount) runs after new tags, want 2: $out"
[ "$(jget "$wruns/shop-1.json" 'd["image"]')" = "$REGISTRY_HOST/acme/shop@$d4" ] || fail "shop-1 image $(jget "$wruns/shop-1.json" 'd["image"]')"
[ "$(jget "$wruns/shop-1.json" 'd["trigger"]["kind"]')" = watch ] || fail "shop-1 trigger $(jget "$wruns/shop-1.json" 'd["trigger"]')"
[ "$(jget "$wruns/fresh-1.json" 'd["image"]')" = "$REGISTRY_HOST/acme/fresh@$d5" ] || fail "fresh-1 image $(jget "$wruns/fresh-1.json" 'd["image"]')"
[ "$(jget "$wruns/shop-1.json" 'd["status"]')" = waiting ] || fail "shop-1 is $(jget "$wruns/shop-1.json" 'd["status"]'), want waiting (driven by watch)"
# 2 triggers x (tag list + manifest HEAD) = 4 requests, 700 ms apart: 2.1 s at least.
[ $((after - before)) -eq 4 ] || fail "watch made $((after - before)) requests, want 4"
[ "$took" -ge 2100 ] || fail "4 requests at -min-request-interval 700ms took ${took} ms"
out=$(timeout 60 "$idp" watch "$wspec" -once -min-request-interval 0 2>&1)
[ "$(wcount)" -eq 2 ] || fail "$(wcount) runs after a third -once, want 2: $out"
(exec 9>"$wspec/.idp/watch.lock" && flock -n 9 && sleep 3) &
lockpid=$!
sleep 0.3
out=$(timeout 20 "$idp" watch "$wspec" -once 2>&1)
rc=$?
[ "$rc" -eq 1 ] && grep -q 'another idp watch' <<<"$out" || fail "a second watch: exit $rc: $out"
kill "$lockpid" 2>/dev/null
wait "$lockpid" 2>/dev/null
check "watch -once: records on first look, starts a run per new digest once, paces requests per registry"

# --- last: no sanitizer report in any log (serve's, the drivers') ----------------------------------
for f in "$serve_log" "$runs"/*.log "$wruns"/*.log; do
  [ -f "$f" ] || continue
  grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$f" && fail "$f: $(grep -E -m3 'Sanitizer|runtime error' "$f")"
done
check "no sanitizer report in the logs of serve, watch's and serve's drivers"
