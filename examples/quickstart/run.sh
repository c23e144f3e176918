#!/usr/bin/env bash
# examples/quickstart/run.sh - the quickstart end to end, on a fresh Debian machine (also `make demo`).
#
#  1. installs what is missing (apt-get, quietly; as root, or through sudo): the build's make, gcc,
#     flex, bison and the -dev packages of jansson, OpenSSL, libyaml, libcurl and libpq; the
#     servers docker-registry, pdns-server + pdns-backend-sqlite3 + sqlite3, postgresql; dig
#     (bind9-dnsutils) and curl. No package starts its own service (policy-rc.d)
#  2. builds ./idp (make idp, from the repository root)
#  3. starts a docker-registry, PowerDNS and PostgreSQL on 127.0.0.1, each on a free port with its
#     data in a temp dir (tests/services/*.sh), and pushes acme/hello v1.0.0, v1.2.0, v2.0.0-rc.1
#  4. idp validate + fmt -check of this folder; then, on a copy of it in the temp dir (idp keeps
#     its state in SPEC_DIR/.idp/), with the variables the spec reads set: idp plan -out, idp apply
#     of the saved plan; shows the DNS record (dig), the databases and roles (psql, and a login
#     with the generated password), the rendered manifests and the Secret (mode 0600, only in
#     secrets_dir); idp plan again ("No changes."); idp destroy -auto-approve
#  5. stops every server and removes the temp dir, also on failure or Ctrl-C
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
  docker-registry pdns-server pdns-backend-sqlite3 sqlite3 bind9-dnsutils postgresql curl; do
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
cleanup() {
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
registry_start "" || fail "docker-registry did not start"
echo "docker-registry  $REGISTRY_URL  (pid $REGISTRY_PID)"
pdns_start || fail "PowerDNS did not start"
echo "PowerDNS         DNS 127.0.0.1:$PDNS_DNS_PORT, API $PDNS_API  (pid $PDNS_PID)"
pg_start || fail "PostgreSQL did not start"
# shellcheck disable=SC2153 # PG_PORT and PG_DIR are set by pg_start
echo "PostgreSQL       127.0.0.1:$PG_PORT  (data in $PG_DIR)"

step "push the image acme/hello under three tags (curl only, no docker)"
declare -A digest
for tag in v1.0.0 v1.2.0 v2.0.0-rc.1; do
  digest[$tag]=$(registry_push acme/hello "$tag") || fail "pushing acme/hello:$tag"
  printf 'acme/hello:%-12s %s\n' "$tag" "${digest[$tag]}"
done
echo "registry_image(..., \"acme/hello\", \"v*\") should pick v1.2.0: the highest release (a \"v*\" skips pre-releases)"

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
out=$(idp plan quickstart -detailed-exitcode) || fail "idp plan should find no changes (exit $?): $out"
echo "$out"
grep -qx 'No changes.' <<<"$out" || fail "idp plan should say \"No changes.\""
if grep -q '(output) serial' <<<"$out"; then
  echo "(the zone's serial moved because PowerDNS raises a zone's SOA serial with each record change:"
  echo " the records this apply made, not a change outside idp; nothing to do about it)"
fi

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

# --- 5. teardown --------------------------------------------------------------------------------
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
