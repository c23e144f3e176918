#!/usr/bin/env bash
# examples/quickstart/run.sh - the quickstart end to end, on a fresh Debian machine (also `make demo`).
#
#  1. installs what is missing (apt-get, quietly; as root, or through sudo): the build's make, gcc,
#     flex, bison and the -dev packages of jansson, OpenSSL, libyaml, libcurl, libpq and
#     libmicrohttpd; the servers docker-registry, pdns-server + pdns-backend-sqlite3 + sqlite3,
#     postgresql; dig (bind9-dnsutils) and curl. No package starts its own service (policy-rc.d)
#  2. builds ./idp (make idp, from the repository root)
#  3. starts a docker-registry, PowerDNS and PostgreSQL on 127.0.0.1, each on a free port with its
#     data in a temp dir (tests/services/*.sh); the registry posts a notification of every push to
#     the port `idp serve` will listen on (with a random IDP_WEBHOOK_TOKEN as bearer token), and
#     keeps retrying until it answers. Pushes acme/hello v1.0.0, v1.2.0, v2.0.0-rc.1
#  4. idp validate + fmt -check of this folder; then, on a copy of it in the temp dir (idp keeps
#     its state in SPEC_DIR/.idp/), with the variables the spec reads set: idp plan -out, idp apply
#     of the saved plan; shows the DNS record (dig), the databases and roles (psql, and a login
#     with the generated password), the rendered manifests and the Secret (mode 0600, only in
#     secrets_dir); idp plan again ("No changes.")
#  5. the release pipeline (release.idp): starts idp serve in the background; the registry
#     delivers the notifications it queued in step 3: the pipeline ships the newest v* tag, so
#     v1.0.0 and the pre-release are ignored and v1.2.0 starts a run (nothing to change in dev,
#     waiting for approval at prod), which is cancelled; pushes
#     acme/hello v1.3.0: its run deploys the digest to dev and waits at prod (prod keeps v1.2.0,
#     and an ordinary idp plan changes nothing); idp pipeline approve releases prod; stops serve
#  6. idp destroy -auto-approve; stops every server and removes the temp dir, also on failure or
#     Ctrl-C
#
# Checks each result and exits non-zero at the first step that fails. About 15 s after the installs
# (5 s when ./idp is built already).
# shellcheck source-path=SCRIPTDIR/../..
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
SECONDS=0

n=0
step() { n=$((n + 1)); printf '\n== %d. %s\n' "$n" "$*"; }
fail() {
  printf '\nFAILED: %s\n' "$*" >&2
  exit 1
}
# show CMD...: prints the command as a shell line, then runs it
show() {
  printf '$ %s\n' "$*"
  "$@"
}
# idp ARGS...: prints and runs ./idp ARGS (in $WORK), with a time limit
idp() {
  printf '$ idp %s\n' "$*"
  timeout --foreground 120 "$ROOT/idp" "$@"
}

# --- 1. packages --------------------------------------------------------------------------------
. tests/services/common.sh
step "packages"
missing=()
for pkg in make gcc flex bison libjansson-dev libssl-dev libyaml-dev libcurl4-openssl-dev libpq-dev \
  libmicrohttpd-dev docker-registry pdns-server pdns-backend-sqlite3 sqlite3 bind9-dnsutils postgresql curl; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} (apt-get; quiet, a minute or so)"
  svc_install "${missing[@]}" || fail "apt-get could not install ${missing[*]}"
else
  echo "everything is installed"
fi
# The newest PostgreSQL the package brought (15 on Debian 12).
pg_bin=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
[ -n "$pg_bin" ] && export PG_BIN=${PG_BIN:-$pg_bin}

# --- 2. build -----------------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/idp-quickstart.XXXXXX") || fail "mktemp"
. tests/services/registry.sh
. tests/services/powerdns.sh
. tests/services/postgres.sh
SERVE_PID=
# serve_stop: stops idp serve (SIGTERM; it stops its drivers), SIGKILL after 5 s
serve_stop() {
  [ -n "$SERVE_PID" ] || return 0
  kill "$SERVE_PID" 2>/dev/null
  for _ in $(seq 1 50); do
    kill -0 "$SERVE_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$SERVE_PID" 2>/dev/null
  wait "$SERVE_PID" 2>/dev/null
  SERVE_PID=
}
cleanup() {
  serve_stop
  registry_stop
  pdns_stop
  pg_stop
  [ -n "${WORK:-}" ] && rm -rf "$WORK"
  WORK=
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "build ./idp (make idp)"
jobs=$(nproc 2>/dev/null || echo 1)
if ! make -j"$jobs" idp >"$WORK/build.log" 2>&1; then
  tail -n 30 "$WORK/build.log"
  fail "the build failed (its last lines are above)"
fi
echo "built ./idp, $("$ROOT/idp" version)"

# --- 3. servers ---------------------------------------------------------------------------------
step "start a docker-registry, PowerDNS and PostgreSQL on 127.0.0.1 (temp dirs, free ports)"
# The registry posts a notification of every push to idp serve (docker-registry's own
# `notifications`, docs/triggers.md), with the token serve will ask for. serve starts after the
# reviewed apply (part 5 below): until then the registry keeps the notifications and retries them.
SERVE_PORT=$(svc_free_port) || fail "no free port for idp serve"
SERVE_URL=http://127.0.0.1:$SERVE_PORT
webhook_token=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
REGISTRY_CONFIG_EXTRA="notifications:
  endpoints:
    - name: idp
      url: $SERVE_URL/hooks/registry
      headers:
        Authorization: [Bearer $webhook_token]
      timeout: 1s
      threshold: 5
      backoff: 1s
      ignoredmediatypes:
        - application/octet-stream
      ignore:
        actions:
          - pull"
registry_start "" || fail "docker-registry did not start"
unset REGISTRY_CONFIG_EXTRA
echo "docker-registry  $REGISTRY_URL  (pid $REGISTRY_PID), notifies $SERVE_URL/hooks/registry of each push"
pdns_start || fail "PowerDNS did not start"
echo "PowerDNS         DNS 127.0.0.1:$PDNS_DNS_PORT, API $PDNS_API  (pid $PDNS_PID)"
pg_start || fail "PostgreSQL did not start"
# shellcheck disable=SC2153 # PG_PORT and PG_DIR are set by pg_start
echo "PostgreSQL       127.0.0.1:$PG_PORT  (data in $PG_DIR)"

step "push the image acme/hello under three tags (curl only, no docker)"
push_step=$n
declare -A digest
for tag in v1.0.0 v1.2.0 v2.0.0-rc.1; do
  digest[$tag]=$(registry_push acme/hello "$tag") || fail "pushing acme/hello:$tag"
  printf 'acme/hello:%-12s %s\n' "$tag" "${digest[$tag]}"
done
echo "registry_image(..., \"acme/hello\", \"v*\") should pick v1.2.0: the highest release (a \"v*\" skips pre-releases)"
echo "(the registry keeps a notification of each push for idp serve, which is not up yet)"

# --- 4. idp -------------------------------------------------------------------------------------
step "idp validate and idp fmt -check"
idp validate examples/quickstart || fail "idp validate"
idp fmt -check examples/quickstart || fail "idp fmt -check: the files listed would change"
echo "(fmt -check: every file is in the canonical layout)"

step "the variables the spec reads, and a copy of the spec to run it on"
mkdir "$WORK/quickstart" || fail "mkdir"
cp examples/quickstart/*.idp "$WORK/quickstart/" || fail "copying the spec"
cd "$WORK" || fail "cd $WORK"
export REGISTRY_URL
export MANIFEST_DIR=$WORK/rendered SECRETS_DIR=$WORK/secrets
IDP_STATE_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export IDP_STATE_KEY
echo "cd $WORK   (quickstart/ is a copy: idp keeps its state in quickstart/.idp/, out of the repo)"
echo "PG_ADMIN_DSN=${PG_ADMIN_DSN%%password=*}password=(hidden) ${PG_ADMIN_DSN#*password=* }"
echo "PDNS_API=$PDNS_API  PDNS_API_KEY=(hidden)"
echo "REGISTRY_URL=$REGISTRY_URL"
echo "MANIFEST_DIR=$MANIFEST_DIR  SECRETS_DIR=$SECRETS_DIR"
echo "IDP_STATE_KEY=(random, hidden): encrypts the secrets idp keeps in its state"

step "idp plan -out: what would change, saved for apply"
idp plan quickstart -out hello.plan || fail "idp plan"

step "idp apply of the saved plan"
idp apply hello.plan || fail "idp apply"

step "the result: DNS"
for env in dev prod; do
  echo "$ dig @127.0.0.1 -p $PDNS_DNS_PORT +short hello.$env.quickstart.test A"
  got=$(dig @127.0.0.1 -p "$PDNS_DNS_PORT" +short "hello.$env.quickstart.test" A) || fail "dig"
  echo "$got"
  [ "$got" = 127.0.0.1 ] || fail "hello.$env.quickstart.test should resolve to 127.0.0.1"
done

step "the result: PostgreSQL"
# psql_admin SQL: prints and runs SQL as the superuser
psql_admin() {
  # shellcheck disable=SC2016 # the variable's name is what is shown
  printf '$ psql "$PG_ADMIN_DSN" -c "%s"\n' "$1"
  psql "$PG_ADMIN_DSN" -X -q -v ON_ERROR_STOP=1 -c "$1"
}
psql_admin "SELECT datname AS database, pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname LIKE 'hello%' ORDER BY 1" ||
  fail "psql"
psql_admin "SELECT rolname AS role, rolcanlogin AS login, split_part(rolpassword, '\$', 1) AS password FROM pg_authid WHERE rolname LIKE 'hello%' ORDER BY 1" ||
  fail "psql"
# count SQL: the one number SQL selects
count() { psql "$PG_ADMIN_DSN" -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }
[ "$(count "SELECT count(*) FROM pg_database WHERE datname IN ('hello_dev', 'hello_prod')")" = 2 ] ||
  fail "the databases hello_dev and hello_prod should exist"

step "the result: the rendered manifests (the dir a GitOps controller would sync)"
show find rendered secrets -type f -printf '%m %p\n' | sort -k2
echo "$ cat rendered/dev/hello.yaml"
cat rendered/dev/hello.yaml || fail "no rendered/dev/hello.yaml"
want_image="$REGISTRY_HOST/acme/hello@${digest[v1.2.0]}"
grep -qF "image: \"$want_image\"" rendered/dev/hello.yaml ||
  fail "the image should be $want_image (v1.2.0, pinned to its digest)"
echo "(the image is acme/hello v1.2.0, pinned to its digest)"

step "the result: the database password went to secrets_dir only"
sf=secrets/dev/hello.yaml
pw=$(sed -n 's/^  DB_PASSWORD: *//p' "$sf" | sed 's/^"\(.*\)"$/\1/')
[ -n "$pw" ] || fail "no DB_PASSWORD in $sf"
echo "$ cat $sf   (the value hidden here)"
sed 's/^\(  DB_PASSWORD:\).*/\1 (24 random characters)/' "$sf"
mode=$(stat -c %a "$sf")
[ "$mode" = 600 ] || fail "$sf has mode $mode, not 0600"
echo "mode of $sf: 0$mode"
if grep -rqF "$pw" rendered quickstart/.idp; then fail "the password appears in rendered/ or in the state in clear"; fi
echo "the password appears nowhere in rendered/ nor, in clear, in the state (quickstart/.idp/state/)"
echo "$ psql 'host=127.0.0.1 port=$PG_PORT user=hello_dev password=(from the Secret) dbname=hello_dev'"
psql "host=127.0.0.1 port=$PG_PORT user=hello_dev password=$pw dbname=hello_dev" -X -At \
  -c "SELECT 'logged in as ' || current_user || ' to ' || current_database()" ||
  fail "the app's role cannot log in with the rendered password"

step "idp plan again: nothing to do"
out=$(idp plan quickstart -detailed-exitcode 2>&1) || fail "idp plan should find no changes (exit $?): $out"
echo "$out"
grep -qx 'No changes.' <<<"$out" || fail "idp plan should say \"No changes.\""
if grep -q '(output) serial' <<<"$out"; then
  echo "(the zone's serial moved because PowerDNS raises a zone's SOA serial with each record change:"
  echo " the records this apply made, not a change outside idp; nothing to do about it)"
fi
v12="$REGISTRY_HOST/acme/hello@${digest[v1.2.0]}"
for env in dev prod; do
  grep -qF "app hello in $env keeps $v12" <<<"$out" || fail "idp plan should note that hello in $env keeps v1.2.0"
done
echo "(the notes: pipeline hello-release of release.idp deploys hello to dev and prod, so the apply"
echo " pinned the image it resolved there; from now on only the pipeline moves it, see below)"

# --- 5. the release pipeline --------------------------------------------------------------------
# short: digests cut to 12 hex digits, for reading
short() { sed 's/\(sha256:[0-9a-f]\{12\}\)[0-9a-f]\{52\}/\1.../g'; }
# run_status RUN: the run's status, from its record (`idp pipeline status RUN -json`, where a
# member of the record itself is indented by two spaces); nothing when there is no such run
run_status() {
  "$ROOT/idp" pipeline status "$1" quickstart -json 2>/dev/null | sed -n 's/^  "status": "\([a-z]*\)".*/\1/p'
}
# run_tag RUN: the tag whose push started the run (the record's trigger.tag)
run_tag() {
  "$ROOT/idp" pipeline status "$1" quickstart -json 2>/dev/null | sed -n 's/^    "tag": "\([^"]*\)".*/\1/p'
}
# wait_status RUN STATUS: until the run's status is STATUS (at most 30 s)
wait_status() {
  for _ in $(seq 1 150); do
    [ "$(run_status "$1")" = "$2" ] && return 0
    sleep 0.2
  done
  return 1
}
# image_of ENV: the image of hello's rendered manifest in ENV
image_of() { sed -n 's/^ *image: "\(.*\)"$/\1/p' "rendered/$1/hello.yaml"; }
# tag_of IMAGE: which of the pushed tags IMAGE is
tag_of() {
  local t
  for t in "${!digest[@]}"; do
    [ "$1" = "$REGISTRY_HOST/acme/hello@${digest[$t]}" ] && echo "$t" && return
  done
  echo "(not a pushed tag)"
}
# images: dev's and prod's image lines, and which tag each is
images() {
  local env img
  for env in dev prod; do
    img=$(image_of "$env")
    printf '%-24s image: "%s"   (%s)\n' "rendered/$env/hello.yaml" "$img" "$(tag_of "$img")" | short
  done
}

step "idp serve: the registry delivers the notifications it kept (digests cut short from here on)"
echo "$ IDP_WEBHOOK_TOKEN=(the registry's token) idp serve quickstart -listen 127.0.0.1:$SERVE_PORT >serve.log 2>&1 &"
(IDP_WEBHOOK_TOKEN=$webhook_token exec "$ROOT/idp" serve quickstart -listen "127.0.0.1:$SERVE_PORT") \
  >serve.log 2>&1 </dev/null &
SERVE_PID=$!
up=
for _ in $(seq 1 100); do
  kill -0 "$SERVE_PID" 2>/dev/null || break
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$SERVE_URL/healthz")" = 200 ] && up=1 && break
  sleep 0.1
done
[ -n "$up" ] || fail "idp serve did not start: $(cat serve.log)"
# Of the three pushes above, only v1.2.0 starts a run: v1.0.0 is older than the newest "v*" tag,
# and "v*" takes no pre-release, as registry_image() does not.
wait_status hello-release-1 waiting ||
  fail "run hello-release-1 did not reach waiting: $(run_status hello-release-1); serve's log: $(cat serve.log)"
for _ in $(seq 1 50); do
  [ "$(grep -c -e 'event .* -> run' -e 'event .* ignored' serve.log)" -ge 3 ] && break
  sleep 0.1
done
echo "serve's log (pid $SERVE_PID):"
grep -E 'listening on|event .* -> run|event .* ignored' serve.log | sed 's/^idp serve: [^ ]* //' | short | sed 's/^/  /'
[ "$(grep -c 'event .* -> run' serve.log)" = 1 ] || fail "serve should have started 1 run: $(cat serve.log)"
grep -q 'acme/hello:v1.0.0 ignored: v1.2.0 is the newest tag' serve.log || fail "the push of v1.0.0 should be ignored"
grep -q 'ignored: no image_push trigger matches acme/hello:v2.0.0-rc.1' serve.log ||
  fail "the push of v2.0.0-rc.1 should be ignored"
[ "$(run_tag hello-release-1)" = v1.2.0 ] || fail "run hello-release-1 was started by $(run_tag hello-release-1), not v1.2.0"
idp pipeline status quickstart || fail "idp pipeline status"
printf 'hello-release-1: acme/hello:v1.2.0   dev deploy: %s\n' \
  "$("$ROOT/idp" pipeline status hello-release-1 quickstart | sed -n 's/^ *plan: //p' | head -n 1)"
[ "$(image_of dev)" = "$v12" ] && [ "$(image_of prod)" = "$v12" ] ||
  fail "dev and prod should both still run v1.2.0: $(images)"
images
echo "The registry kept the notifications of step $push_step's pushes until serve answered. A pipeline"
echo "ships the newest tag of its pattern: the push of v1.2.0 started a run, which found dev"
echo "running v1.2.0 already (nothing to change) and waits for an approval at prod; the older v1.0.0"
echo "and the pre-release were ignored."

step "idp pipeline cancel: prod runs v1.2.0 already"
idp pipeline cancel hello-release-1 quickstart -by quickstart || fail "idp pipeline cancel hello-release-1"
[ "$(run_status hello-release-1)" = cancelled ] || fail "run hello-release-1 is $(run_status hello-release-1), not cancelled"
echo "(a cancelled run takes no approval)"

step "push acme/hello v1.3.0: its run deploys it to dev and waits for approval at prod"
digest[v1.3.0]=$(registry_push acme/hello v1.3.0) || fail "pushing acme/hello:v1.3.0"
printf 'acme/hello:%-12s %s\n' v1.3.0 "${digest[v1.3.0]}"
v13="$REGISTRY_HOST/acme/hello@${digest[v1.3.0]}"
run=hello-release-2
wait_status "$run" waiting || fail "run $run did not reach waiting: $(run_status "$run"); serve's log: $(cat serve.log)"
[ "$(run_tag "$run")" = v1.3.0 ] || fail "run $run was started by tag $(run_tag "$run"), not v1.3.0"
idp pipeline status "$run" quickstart | short || fail "idp pipeline status $run"
"$ROOT/idp" pipeline status "$run" quickstart -json | grep -qxF "  \"image\": \"$v13\"," ||
  fail "run $run does not carry $v13"
images
[ "$(image_of dev)" = "$v13" ] || fail "dev should run v1.3.0: $(image_of dev)"
[ "$(image_of prod)" = "$v12" ] || fail "prod should still run v1.2.0: $(image_of prod)"

step "idp plan: still nothing to do, v1.3.0 in the registry or not"
out=$(idp plan quickstart -detailed-exitcode 2>&1) || fail "idp plan should find no changes (exit $?): $out"
short <<<"$out"
grep -qx 'No changes.' <<<"$out" || fail "idp plan should say \"No changes.\""
grep -qF "app hello in prod keeps $v12" <<<"$out" || fail "idp plan should note that prod keeps v1.2.0"
grep -qF "app hello in dev keeps $v13 (deployed by run $run)" <<<"$out" ||
  fail "idp plan should note that dev keeps v1.3.0 from run $run"
echo "(registry_image() would pick v1.3.0 now, but each environment keeps the image it was given:"
echo " prod moves to v1.3.0 through the pipeline, once approved; decision 9 in docs/pipelines.md)"

step "idp pipeline approve: prod gets v1.3.0"
out=$(idp pipeline approve "$run" prod quickstart -by quickstart 2>&1) || fail "idp pipeline approve (exit $?): $out"
short <<<"$out"
wait_status "$run" succeeded || fail "run $run is $(run_status "$run"), not succeeded"
idp pipeline status quickstart || fail "idp pipeline status"
images
[ "$(image_of prod)" = "$v13" ] || fail "prod should run v1.3.0: $(image_of prod)"
echo "$ grep -A3 containers: rendered/prod/hello.yaml"
grep -A3 'containers:' rendered/prod/hello.yaml | short

step "stop idp serve"
pid=$SERVE_PID
echo "$ kill $pid   (SIGTERM: serve stops its drivers and exits 0)"
kill "$pid" 2>/dev/null
wait "$pid"
rc=$?
SERVE_PID=
[ "$rc" = 0 ] || fail "idp serve exited $rc: $(tail -n 5 serve.log)"
if kill -0 "$pid" 2>/dev/null; then fail "idp serve is still running"; fi
echo "stopped"

step "idp destroy -auto-approve (the plan it prints is left out here)"
idp destroy quickstart -auto-approve >destroy.log 2>&1
rc=$?
sed -n '/^Plan: /,$p' destroy.log
if [ "$rc" -ne 0 ]; then
  cat destroy.log
  fail "idp destroy"
fi
[ -z "$(dig @127.0.0.1 -p "$PDNS_DNS_PORT" +short hello.dev.quickstart.test A)" ] || fail "the record is still served"
[ "$(count "SELECT count(*) FROM pg_database WHERE datname LIKE 'hello%'")" = 0 ] || fail "a hello_* database is left"
[ "$(count "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'hello%'")" = 0 ] || fail "a hello_* role is left"
[ -z "$(find rendered secrets -type f)" ] || fail "rendered files are left"
echo "the record, the databases, the roles and the rendered files are gone"

# --- 6. teardown --------------------------------------------------------------------------------
step "stop the servers, remove $WORK"
pids="$REGISTRY_PID $PDNS_PID" pg_port=$PG_PORT
cd "$ROOT" || exit 1
cleanup
for p in $pids; do
  if kill -0 "$p" 2>/dev/null; then fail "process $p is still running"; fi
done
if (exec 3<>"/dev/tcp/127.0.0.1/$pg_port") 2>/dev/null; then fail "PostgreSQL still listens on $pg_port"; fi
echo "stopped; nothing is left running or on disk"

step "done in ${SECONDS}s"
echo "next: ./idp help, examples/quickstart/*.idp, docs/language.md, and the tour in README.md"
