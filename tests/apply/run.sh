#!/usr/bin/env bash
# tests/apply/run.sh IDP_BINARY - `idp apply` / `idp destroy` end to end, against real servers on
# loopback (tests/services/: PowerDNS, PostgreSQL, docker-registry), on a copy of the design
# baseline (IDP_BASELINE, default ../shared/design/baseline). Each scenario is one TAP line:
#
#   1. plan -env dev -env staging -out, apply: 21 added; dig, psql (owners, the roles log in with
#      the passwords idp generated), the rendered YAML (the v1.10.0 digest), secrets only in
#      SECRETS_DIR (0600)
#   2. plan again: "No changes." (exit 0 with -detailed-exitcode)
#   3. a saved plan made stale by `idp state rm` is refused; the forgotten record is adopted
#   4. a changed ttl and variable: updated in place, served, rendered; then no changes
#   5. an app removed: its objects deleted (NXDOMAIN, no database, no files)
#   6. an on-demand environment: apply -env pr-7:development, destroy -env pr-7 (the type from the
#      state), the shared zone left alone (decision 6)
#   7. PowerDNS stopped during an apply: exit 1 naming the records and the connection failure,
#      the state true, a later apply converges
#   8. kill -9 in the middle of an apply of 201 resources: the next apply converges, nothing twice
#   9. two applies on one state at once: one fails on the lock, or waits with -lock-timeout
#  11. the prod environment on the fake Kubernetes API server (tests/k8s): 13 added, no changes after
#  12. a deployment whose rollout fails: apply exits 1 naming it and the condition, the state marks
#      it tainted, and it converges once the image is put back
#  10. (last) no secret (API key, admin password, state key, generated passwords) in any plan,
#      state, rendered file, output or the PostgreSQL log
#
# Without the servers the suite skips, or fails under CI (tests/services/common.sh). Prints TAP
# lines; exits 0 (tests/run.sh counts).
set -u

# usage, idp, here, root, LC_ALL, tmp and ok / bad / fail / check: tests/suite.sh
# shellcheck source=../suite.sh
. "$(dirname "$0")/../suite.sh" apply "$@" || exit 0
baseline=${IDP_BASELINE:-$root/../shared/design/baseline}
bgpid=

# shellcheck source=../services/powerdns.sh
. "$root/tests/services/powerdns.sh"
# shellcheck source=../services/postgres.sh
. "$root/tests/services/postgres.sh"
# shellcheck source=../services/registry.sh
. "$root/tests/services/registry.sh"
cleanup() {
  if [ -n "$bgpid" ]; then
    kill -9 "$bgpid" 2>/dev/null
    wait "$bgpid" 2>/dev/null
  fi
  pdns_stop
  pg_stop
  registry_stop
  if declare -F k8s_fake_stop >/dev/null; then k8s_fake_stop; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# --- the servers -------------------------------------------------------------------------------
if [ ! -d "$baseline" ]; then
  echo "ok - apply # SKIP no design baseline at $baseline"
  exit 0
fi
for svc in pdns pg registry; do
  if ! why=$("${svc}_check" 2>&1); then
    if "${svc}_required"; then bad "$svc installed" "$why"; else echo "ok - apply # SKIP $why"; fi
    exit 0
  fi
done
for svc in pdns pg registry; do
  if ! "${svc}_start" 2>"$tmp/start.err"; then
    bad "$svc starts" "$(cat "$tmp/start.err")"
    exit 0
  fi
done
declare -A digest
for r in acme/shop acme/billing; do
  for t in v1.2.0 v1.10.0 v1.9; do
    if ! digest[$r:$t]=$(registry_push "$r" "$t"); then
      bad "pushing $r:$t to the registry"
      exit 0
    fi
  done
done
export REGISTRY_URL
export MANIFEST_DIR="$tmp/rendered" SECRETS_DIR="$tmp/secrets"
IDP_STATE_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export IDP_STATE_KEY

# pdns_restart: pdns_server again on the same database, config and ports (pdns_stop removes them).
pdns_restart() {
  local pdns=pdns_server
  command -v pdns_server >/dev/null 2>&1 || pdns=/usr/sbin/pdns_server
  "$pdns" --config-dir="$PDNS_DIR" >>"$PDNS_LOG" 2>&1 </dev/null &
  PDNS_PID=$!
  for _ in $(seq 1 200); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $PDNS_API_KEY" "$PDNS_API/api/v1/servers/localhost")" = 200 ] && return 0
    sleep 0.05
  done
  return 1
}

# --- helpers -----------------------------------------------------------------------------------
n=0
# run DIR ARGS...: idp ARGS in DIR; sets rc, out, err (every output is kept for the secrets grep).
run() {
  local dir=$1
  shift
  n=$((n + 1))
  (cd "$dir" && timeout 120 "$idp" "$@") >"$tmp/log/$n.out" 2>"$tmp/log/$n.err" </dev/null
  rc=$?
  out=$(cat "$tmp/log/$n.out")
  err=$(cat "$tmp/log/$n.err")
}
# start_bg DIR ARGS...: idp ARGS in DIR in the background (bgpid is idp's own pid, for kill -9
# and the lock holder's name; output in $bgout).
start_bg() {
  local dir=$1
  shift
  n=$((n + 1))
  bgout="$tmp/log/$n.out" bgerr="$tmp/log/$n.err"
  (cd "$dir" && exec "$idp" "$@") >"$bgout" 2>"$bgerr" </dev/null &
  bgpid=$!
}
# wait_for FILE PATTERN: until FILE holds PATTERN (grep -E), at most 30 s.
wait_for() {
  for _ in $(seq 1 3000); do
    grep -qE -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.01
  done
  return 1
}
ran() { printf 'idp %s: exit %s\nstdout: %s\nstderr: %s' "$1" "$rc" "$(tail -5 <<<"$out")" "$(tail -5 <<<"$err")"; }
has() { grep -qF -- "$2" <<<"$1"; }
last() { tail -1 <<<"$out"; }
dig_a() { dig @127.0.0.1 -p "$PDNS_DNS_PORT" +short +time=2 +tries=1 "$1" A; }
dig_status() { dig @127.0.0.1 -p "$PDNS_DNS_PORT" +time=2 +tries=1 "$1" A | sed -n 's/.*status: \([A-Z]*\).*/\1/p'; }
dig_ttl() { dig @127.0.0.1 -p "$PDNS_DNS_PORT" +noall +answer +time=2 +tries=1 "$1" A | awk '{print $2}'; }
pdns_get() { curl -s -H "X-API-Key: $PDNS_API_KEY" "$PDNS_API/api/v1/servers/localhost/$1"; }
status_of() { # status_of DIR ENV ADDR: the status `idp state show` prints, or "absent"
  local s
  s=$(cd "$1" && "$idp" state show -env "$2" "$3" 2>/dev/null | sed -n 's/^status: *//p')
  echo "${s:-absent}"
}
# The generated passwords, harvested from the Secret manifests (the only place they may be).
passwords=()
harvest() {
  local f p
  for f in "$SECRETS_DIR"/*/*.yaml; do
    [ -f "$f" ] || continue
    for p in $(sed -n -e 's|^ *DATABASE_URL: "*postgres://[^:]*:\([^@]*\)@.*|\1|p' -e 's|^ *DB_PASSWORD: "*\([^"]*\)"*$|\1|p' "$f"); do
      passwords+=("$p")
    done
  done
}
mkdir -p "$tmp/log"
base="$tmp/base"
mkdir -p "$base"
cp "$baseline"/*.idp "$base/"
shop_ref="$REGISTRY_HOST/acme/shop@${digest[acme/shop:v1.10.0]}"
billing_ref="$REGISTRY_HOST/acme/billing@${digest[acme/billing:v1.10.0]}"

# --- 1. the first apply ------------------------------------------------------------------------
t0=$SECONDS
run "$base" plan -env dev -env staging -out p1.plan
[ "$rc" -eq 0 ] && has "$out" "Plan: 21 to add, 0 to change, 0 to destroy." || fail "$(ran plan)"
run "$base" apply p1.plan
[ "$rc" -eq 0 ] && [ "$(last)" = "Apply complete! Resources: 21 added, 0 changed, 0 destroyed." ] || fail "$(ran apply)"
for e in dev staging; do
  for a in shop billing; do
    [ "$(dig_a "$a.$e.dev.example.test.")" = 127.0.0.1 ] || fail "dig $a.$e.dev.example.test.: '$(dig_a "$a.$e.dev.example.test.")'"
    got=$(pg_psql -c "select r.rolname || ' ' || r.rolcanlogin::text from pg_database d join pg_roles r on r.oid = d.datdba where d.datname = '${a}_$e'")
    [ "$got" = "${a}_$e true" ] || fail "database ${a}_$e: owner and login '$got', want '${a}_$e true'"
    f="$MANIFEST_DIR/$e/$a.yaml"
    ref=$shop_ref
    [ $a = billing ] && ref=$billing_ref
    grep -qxF "        image: \"$ref\"" "$f" 2>/dev/null || fail "$f: want image $ref, have: $(grep -F image: "$f" 2>&1)"
    grep -qE '^kind: Secret|stringData' "$f" 2>/dev/null && fail "$f holds a Secret"
    s="$SECRETS_DIR/$e/$a.yaml"
    [ "$(stat -c %a "$s" 2>&1)" = 600 ] || fail "$s: mode $(stat -c %a "$s" 2>&1), want 600"
  done
done
zones=$(pdns_get zones | python3 -c 'import json,sys; print(" ".join(sorted(z["name"] for z in json.load(sys.stdin))))' 2>&1)
[ "$zones" = "dev.example.test." ] || fail "zones on the server: '$zones', want only dev.example.test. (prod-zone is not reached)"
harvest
[ ${#passwords[@]} -eq 4 ] || fail "want 4 generated passwords in $SECRETS_DIR, found ${#passwords[@]}"
for e in dev staging; do # each role logs in with the password idp generated for it (SCRAM)
  for a in shop billing; do
    f="$SECRETS_DIR/$e/$a.yaml"
    pw=$(sed -n -e 's|^ *DATABASE_URL: "*postgres://[^:]*:\([^@]*\)@.*|\1|p' -e 's|^ *DB_PASSWORD: "*\([^"]*\)"*$|\1|p' "$f" 2>/dev/null)
    got=$(PGPASSWORD=$pw psql "host=127.0.0.1 port=$PG_PORT user=${a}_$e dbname=${a}_$e" -X -At -c 'select current_user' 2>&1)
    [ "$got" = "${a}_$e" ] || fail "${a}_$e logs in with its generated password: $got"
  done
done
for p in "${passwords[@]}"; do
  grep -rqF -- "$p" "$MANIFEST_DIR" && fail "a generated password is in $MANIFEST_DIR"
done
check "1. plan -out + apply of dev and staging: 21 added; DNS, databases, manifests, secrets"

# --- 2. nothing left to do ---------------------------------------------------------------------
run "$base" plan -env dev -env staging -detailed-exitcode
[ "$rc" -eq 0 ] && grep -qx "No changes." <<<"$out" || fail "$(ran "plan -detailed-exitcode")"
check "2. plan after apply: No changes. (exit 0 with -detailed-exitcode)"

# --- 3. a stale plan ---------------------------------------------------------------------------
rec=env.dev/app.shop/need.host/powerdns.record.host
run "$base" plan -env dev -out p3.plan
[ "$rc" -eq 0 ] || fail "$(ran "plan -out")"
run "$base" state rm "$rec"
[ "$rc" -eq 0 ] || fail "$(ran "state rm")"
run "$base" apply p3.plan
[ "$rc" -eq 1 ] && has "$err" "stale" && has "$err" "environment dev" && ! has "$out" "creating..." ||
  fail "a stale plan must be refused naming the environment: $(ran apply)"
# the forgotten record is still served; planned again, apply adopts it (decision 11)
run "$base" plan -env dev -env staging -out p3b.plan
[ "$rc" -eq 0 ] && has "$out" "Plan: 1 to add, 0 to change, 0 to destroy." || fail "$(ran "plan again")"
run "$base" apply p3b.plan
[ "$rc" -eq 0 ] && [ "$(last)" = "Apply complete! Resources: 1 added, 0 changed, 0 destroyed." ] || fail "$(ran "apply (adopt)")"
[ "$(status_of "$base" dev "$rec")" = created ] || fail "$rec: status $(status_of "$base" dev "$rec") in state"
[ "$(dig_a shop.dev.dev.example.test.)" = 127.0.0.1 ] || fail "shop.dev.dev.example.test. no longer served"
check "3. a plan made stale by 'state rm' is refused (environment dev, stale); the record is adopted"

# --- 4. a changed value ------------------------------------------------------------------------
sed -i 's/^    ttl     = 60$/    ttl     = 120/' "$base/platform.idp"
sed -i 's/? "info" : "debug"/? "info" : "trace"/' "$base/shop.idp"
run "$base" plan -env dev -env staging -out p4.plan
[ "$rc" -eq 0 ] && has "$out" "Plan: 0 to add, 6 to change, 0 to destroy." &&
  [ "$(grep -c 'will be updated in place' <<<"$out")" -eq 6 ] && has "$out" "ttl = 60 -> 120" || fail "$(ran plan)"
run "$base" apply p4.plan
[ "$rc" -eq 0 ] && [ "$(last)" = "Apply complete! Resources: 0 added, 6 changed, 0 destroyed." ] || fail "$(ran apply)"
for e in dev staging; do
  for a in shop billing; do
    [ "$(dig_ttl "$a.$e.dev.example.test.")" = 120 ] || fail "$a.$e.dev.example.test.: ttl '$(dig_ttl "$a.$e.dev.example.test.")', want 120"
  done
  grep -qx '          value: trace' "$MANIFEST_DIR/$e/shop.yaml" || fail "$MANIFEST_DIR/$e/shop.yaml: LOG_LEVEL is not trace"
done
run "$base" plan -env dev -env staging -detailed-exitcode
[ "$rc" -eq 0 ] && grep -qx "No changes." <<<"$out" || fail "$(ran "plan after")"
check "4. a changed ttl and variable: updated in place, served and rendered; then no changes"

# --- 5. an app removed -------------------------------------------------------------------------
# billing.idp goes, and with it the provide that matches app "billing" (a match naming an
# undeclared app is an error); nothing references billing (decision 13).
rm "$base/billing.idp"
sed -i '/^provide postgres "billing-prod"/,/^}/d' "$base/platform.idp"
run "$base" plan -env dev -env staging -out p5.plan
[ "$rc" -eq 0 ] && has "$out" "Plan: 0 to add, 0 to change, 10 to destroy." &&
  [ "$(grep -c 'app.billing/.* will be destroyed' <<<"$out")" -eq 10 ] || fail "$(ran plan)"
run "$base" apply p5.plan
[ "$rc" -eq 0 ] && [ "$(last)" = "Apply complete! Resources: 0 added, 0 changed, 10 destroyed." ] || fail "$(ran apply)"
for e in dev staging; do
  [ "$(dig_status "billing.$e.dev.example.test.")" = NXDOMAIN ] || fail "billing.$e.dev.example.test.: $(dig_status "billing.$e.dev.example.test."), want NXDOMAIN"
  [ "$(dig_a "shop.$e.dev.example.test.")" = 127.0.0.1 ] || fail "shop.$e.dev.example.test. is gone too"
  [ -e "$MANIFEST_DIR/$e/billing.yaml" ] && fail "$MANIFEST_DIR/$e/billing.yaml is still there"
  [ -e "$SECRETS_DIR/$e/billing.yaml" ] && fail "$SECRETS_DIR/$e/billing.yaml is still there"
done
got=$(pg_psql -c "select string_agg(datname, ',' order by datname) from pg_database where datname like 'billing%'" \
  -c "select string_agg(rolname, ',' order by rolname) from pg_roles where rolname like 'billing%'")
[ -z "$(tr -d '\n' <<<"$got")" ] || fail "billing databases or roles left: $got"
run "$base" plan -env dev -env staging -detailed-exitcode
[ "$rc" -eq 0 ] && grep -qx "No changes." <<<"$out" || fail "$(ran "plan after")"
check "5. an app removed: its 10 objects deleted (NXDOMAIN, no database or role, no manifest)"

# --- 6. an on-demand environment ---------------------------------------------------------------
shared_before=$(sha256sum <"$base/.idp/state/_shared.json")
run "$base" apply -env pr-7:development -auto-approve
[ "$rc" -eq 0 ] && [ "$(last)" = "Apply complete! Resources: 5 added, 0 changed, 0 destroyed." ] || fail "$(ran "apply -env pr-7:development")"
got=$(pg_psql -c "select r.rolname from pg_database d join pg_roles r on r.oid = d.datdba where d.datname = 'shop_pr-7'")
[ "$got" = shop_pr-7 ] || fail "database shop_pr-7: owner '$got'"
[ "$(dig_a shop.pr-7.dev.example.test.)" = 127.0.0.1 ] || fail "shop.pr-7.dev.example.test. is not served"
[ -f "$MANIFEST_DIR/pr-7/shop.yaml" ] || fail "no $MANIFEST_DIR/pr-7/shop.yaml"
grep -q '"env_type": "development"' "$base/.idp/state/pr-7.json" || fail "the state of pr-7 does not record its type" "$(head -6 "$base/.idp/state/pr-7.json")"
harvest
run "$base" destroy -env pr-7 -auto-approve
[ "$rc" -eq 0 ] && [ "$(last)" = "Destroy complete! Resources: 0 added, 0 changed, 5 destroyed." ] &&
  ! grep -qE '^powerdns\.zone.*(deleting|deleted|destroyed)|# powerdns\.zone.* will be destroyed' <<<"$out" ||
  fail "$(ran "destroy -env pr-7")"
[ -z "$(pg_psql -c "select datname from pg_database where datname = 'shop_pr-7'" -c "select rolname from pg_roles where rolname = 'shop_pr-7'")" ] ||
  fail "shop_pr-7 is still on the server"
[ "$(dig_status shop.pr-7.dev.example.test.)" = NXDOMAIN ] || fail "shop.pr-7.dev.example.test.: $(dig_status shop.pr-7.dev.example.test.)"
[ -e "$MANIFEST_DIR/pr-7/shop.yaml" ] && fail "$MANIFEST_DIR/pr-7/shop.yaml is still there"
[ "$(dig_a shop.dev.dev.example.test.)" = 127.0.0.1 ] || fail "the dev zone lost shop.dev"
[ "$(sha256sum <"$base/.idp/state/_shared.json")" = "$shared_before" ] || fail "the shared state changed"
check "6. on-demand pr-7: created (shop_pr-7), its type kept in state; destroy -env pr-7 leaves the zone alone"

# --- 7. PowerDNS stops ---------------------------------------------------------------------------
# billing comes back (2 records to create) and the ttl goes back to 60 (2 records to update).
cp "$baseline/billing.idp" "$baseline/platform.idp" "$base/"
run "$base" plan -env dev -env staging -out p7.plan
[ "$rc" -eq 0 ] && has "$out" "Plan: 10 to add, 2 to change, 0 to destroy." || fail "$(ran plan)"
kill "$PDNS_PID" && wait "$PDNS_PID" 2>/dev/null
PDNS_PID=
run "$base" apply p7.plan
# 4 DNS steps fail; billing's workloads wait on shop's record (SHOP_URL), so they are skipped.
[ "$rc" -eq 1 ] && [ "$(last)" = "Apply failed: 4 of 12 steps failed, 2 skipped; done: 6 added, 0 changed, 0 destroyed." ] &&
  [ "$(grep -c 'gitops.deployment.app: create skipped: update of env\.[a-z]*/app\.shop/need\.host/powerdns\.record\.host failed' <<<"$out")" -eq 2 ] ||
  fail "$(ran "apply without PowerDNS")"
for e in dev staging; do
  for a in billing shop; do
    r="env.$e/app.$a/need.host/powerdns.record.host"
    grep -qE "^idp apply: error: $r: (create|update): .*127\.0\.0\.1.*(connect|Connect)" <<<"$err" || fail "the error does not name $r and the connection failure"
  done
  r="env.$e/app.billing/need.host/powerdns.record.host"
  s=$(status_of "$base" "$e" "$r")
  [ "$s" = created ] && fail "$r is created in state, though PowerDNS was down"
  r="env.$e/app.shop/need.host/powerdns.record.host"
  (cd "$base" && "$idp" state show -env "$e" "$r") | grep -qE '^ *ttl *[:=]? *120$' || fail "$r: the state lost the ttl the server has (120)" "$(cd "$base" && "$idp" state show -env "$e" "$r" 2>&1 | grep ttl)"
  [ "$(status_of "$base" "$e" "env.$e/app.billing/need.db/postgres.database.db")" = created ] || fail "billing_$e was not recorded"
done
if ! pdns_restart; then
  fail "PowerDNS does not come back"
else
  [ "$(dig_status billing.dev.dev.example.test.)" = NXDOMAIN ] || fail "billing.dev.dev.example.test. exists, not recorded"
  run "$base" apply -env dev -env staging -auto-approve
  [ "$rc" -eq 0 ] && [ "$(last)" = "Apply complete! Resources: 4 added, 2 changed, 0 destroyed." ] || fail "$(ran "apply again")"
  for e in dev staging; do
    [ "$(dig_a "billing.$e.dev.example.test.")" = 127.0.0.1 ] || fail "billing.$e.dev.example.test. is not served"
    [ "$(dig_ttl "shop.$e.dev.example.test.")" = 60 ] || fail "shop.$e.dev.example.test.: ttl $(dig_ttl "shop.$e.dev.example.test.")"
  done
  run "$base" plan -env dev -env staging -detailed-exitcode
  [ "$rc" -eq 0 ] && grep -qx "No changes." <<<"$out" || fail "$(ran "plan after")"
fi
harvest
check "7. PowerDNS down: exit 1 naming each record and the connection failure, the state true; then converges"

# --- 8. kill -9 mid-apply ----------------------------------------------------------------------
# 201 resources: a zone, 150 records in it, 50 roles. PowerDNS's gsqlite3 backend answers 500
# "database is locked" to concurrent changes (the driver retries a few times): max_parallel = 1
# keeps the DNS calls, creates and deletes alike, one at a time.
bulk="$tmp/bulk"
locked0=$(grep -c 'database is locked' "$PDNS_LOG")
mkdir -p "$bulk"
{
  cat <<'EOF'
integration powerdns "dns" {
  api          = env("PDNS_API")
  api_key      = secret(env("PDNS_API_KEY"))
  server_id    = "localhost"
  max_parallel = 1
}

integration postgres "pg" {
  dsn = secret(env("PG_ADMIN_DSN"))
}

resource powerdns.zone "bulk" {
  server      = integration.dns
  name        = "bulk.example.test."
  nameservers = ["ns1.example.test."]
}
EOF
  for i in $(seq -w 1 150); do
    printf '\nresource powerdns.record "r%s" {\n  server  = integration.dns\n  zone    = powerdns.zone.bulk.name\n  name    = "r%s.bulk.example.test."\n  type    = "A"\n  records = ["127.0.0.%d"]\n}\n' "$i" "$i" "$((10#$i))"
  done
  for i in $(seq -w 1 50); do
    printf '\nresource postgres.role "u%s" {\n  server = integration.pg\n  name   = "bulk_u%s"\n}\n' "$i" "$i"
  done
} >"$bulk/bulk.idp"
# on_server: "RECORDS ROLES" as the servers have them (names checked against the spec's).
on_server() {
  local recs roles
  recs=$(pdns_get zones/bulk.example.test. | python3 -c '
import json, sys
try:
    z = json.load(sys.stdin)
except ValueError:
    print(0); sys.exit()
names = sorted(r["name"] for r in z.get("rrsets", []) if r["type"] == "A")
want = ["r%03d.bulk.example.test." % i for i in range(1, 151)]
print(len(names) if set(names) <= set(want) else "unexpected:" + ",".join(n for n in names if n not in want))')
  roles=$(pg_psql -c "select count(*) from pg_roles where rolname like 'bulk\\_u%'")
  echo "$recs $roles"
}
created_in_state() { grep -c '"status": "created"' "$bulk/.idp/state/_shared.json" 2>/dev/null; }
run "$bulk" plan -out p8.plan
[ "$rc" -eq 0 ] && has "$out" "Plan: 201 to add, 0 to change, 0 to destroy." || fail "$(ran plan)"
start_bg "$bulk" apply -parallelism 4 p8.plan
if wait_for "$bgout" '\[100/201\]'; then
  kill -9 "$bgpid"
  wait "$bgpid" 2>/dev/null
  bgrc=$?
  bgpid=
  [ "$bgrc" -eq 137 ] && ! grep -q 'Apply complete' "$bgout" || fail "the apply was not killed in the middle: exit $bgrc, $(tail -1 "$bgout")"
  before=$(on_server)
  echo "# apply: after kill -9: on the server (records, roles) $before; in state $(created_in_state) created, $(grep -c '"status": "pending-create"' "$bulk/.idp/state/_shared.json") pending-create"
  run "$bulk" apply -auto-approve
  [ "$rc" -eq 0 ] && has "$out" "Apply complete!" || fail "$(ran "apply after kill -9")"
  [ "$(on_server)" = "150 50" ] || fail "on the server after the kill: $before; after the second apply: $(on_server), want 150 records, 50 roles"
  [ "$(created_in_state)" = 201 ] || fail "$(created_in_state) resources created in state, want 201"
  run "$bulk" plan -detailed-exitcode
  [ "$rc" -eq 0 ] && grep -qx "No changes." <<<"$out" || fail "$(ran "plan after")"
else
  fail "the apply never reached step 60 of 201: $(tail -3 "$bgout")"
  kill -9 "$bgpid" 2>/dev/null
  wait "$bgpid" 2>/dev/null
  bgpid=
fi
check "8. kill -9 in the middle of 201 creates: the next apply converges, nothing twice or orphaned"

# --- 9. two applies at once --------------------------------------------------------------------
start_bg "$bulk" destroy -auto-approve
if wait_for "$bgout" '\[5/201\]'; then
  run "$bulk" apply -auto-approve
  [ "$rc" -eq 1 ] && has "$err" "locked by pid $bgpid" && ! grep -qE 'creating|deleting' <<<"$out" ||
    fail "a second apply while one runs: $(ran apply)"
  wait "$bgpid"
  bgrc=$?
  bgpid=
  [ "$bgrc" -eq 0 ] && grep -q 'Destroy complete! Resources: 0 added, 0 changed, 201 destroyed.' "$bgout" ||
    fail "the first run (destroy): exit $bgrc, $(tail -1 "$bgout")" "$(tail -5 "$bgerr")"
  [ "$(on_server)" = "0 0" ] || fail "on the server after the destroy: $(on_server)"
else
  fail "the destroy never reached step 5: $(tail -3 "$bgout")"
fi
start_bg "$bulk" apply -auto-approve
if wait_for "$bgout" '\[5/201\]'; then
  run "$bulk" apply -auto-approve -lock-timeout 60s
  [ "$rc" -eq 0 ] && grep -qx "No changes." <<<"$out" || fail "a second apply with -lock-timeout: $(ran apply)"
  wait "$bgpid"
  bgrc=$?
  bgpid=
  [ "$bgrc" -eq 0 ] && grep -q 'Apply complete! Resources: 201 added, 0 changed, 0 destroyed.' "$bgout" ||
    fail "the first run (apply): exit $bgrc, $(tail -1 "$bgout")" "$(tail -5 "$bgerr")"
  [ "$(on_server)" = "150 50" ] || fail "on the server: $(on_server), want 150 50"
else
  fail "the apply never reached step 5: $(tail -3 "$bgout")"
fi
locked=$(($(grep -c 'database is locked' "$PDNS_LOG") - locked0))
[ "$locked" -eq 0 ] || fail "max_parallel = 1 not kept: PowerDNS saw concurrent changes ($locked times 'database is locked')"
check "9. two applies on one state at once: the second fails on the lock, or waits with -lock-timeout; max_parallel kept"

# --- 11. prod on the fake Kubernetes API server -------------------------------------------------
# The baseline's prod environment: its workloads go to a cluster (kubeconfig context `prod`), here
# the fake API server of tests/k8s (named so in its README: no real one can run here).
# shellcheck source=../k8s/lib.sh
if ! . "$root/tests/k8s/lib.sh" apply "$(dirname "$idp")"; then
  bad "11. prod: the fake Kubernetes API server is not built"
elif ! mkdir -p "$tmp/k8s" || ! k8s_fake_start "$tmp/k8s" >"$tmp/k8s.out" 2>&1; then
  bad "11. prod: the fake Kubernetes API server starts" "$(cat "$tmp/k8s.out")"
else
  python3 -c 'import sys; t = open(sys.argv[1]).read()
t = t.replace("- name: fake\n  context:", "- name: prod\n  context:").replace("current-context: fake", "current-context: prod")
open(sys.argv[2], "w").write(t)' "$K8S_KUBECONFIG" "$tmp/k8s/prod.kubeconfig"
  export KUBECONFIG="$tmp/k8s/prod.kubeconfig"
  kget() { curl -s --cacert "$K8S_CA" -H "Authorization: Bearer $K8S_TOKEN" "$K8S_SERVER/$1"; }
  run "$base" plan -env prod -out p11.plan
  [ "$rc" -eq 0 ] && has "$out" "Plan: 13 to add, 0 to change, 0 to destroy." || fail "$(ran plan)"
  run "$base" apply p11.plan
  [ "$rc" -eq 0 ] && [ "$(last)" = "Apply complete! Resources: 13 added, 0 changed, 0 destroyed." ] || fail "$(ran apply)"
  img=$(kget apis/apps/v1/namespaces/shop-prod/deployments/shop | python3 -c 'import json,sys
d = json.load(sys.stdin); print(d["spec"]["template"]["spec"]["containers"][0]["image"], d["status"].get("availableReplicas"))' 2>&1)
  [ "$img" = "$shop_ref 3" ] || fail "deployment shop-prod/shop on the cluster: '$img', want '$shop_ref 3'"
  got=$(pg_psql -c "select rolconnlimit from pg_roles where rolname = 'billing_prod'")
  [ "$got" = 20 ] || fail "billing_prod (the more specific provide): connection limit '$got', want 20"
  run "$base" plan -env prod -detailed-exitcode
  [ "$rc" -eq 0 ] && has "$out" "No changes." || fail "second plan: $(ran plan)"
  check "11. prod on the fake Kubernetes API server: 13 added (billing through billing-prod), the digest deployed; then no changes"

  # --- 12. a rollout that fails -----------------------------------------------------------------
  # The fake fails the rollout of an image whose name holds "fail-rollout".
  registry_push acme/fail-rollout v1.0.0 >/dev/null || fail "pushing acme/fail-rollout"
  cp "$base/shop.idp" "$tmp/shop.idp.orig"
  sed -i 's|"acme/shop"|"acme/fail-rollout"|' "$base/shop.idp"
  run "$base" apply -env prod -auto-approve
  [ "$rc" -eq 1 ] && has "$err" "env.prod/app.shop/need.workload/kubernetes.deployment.app" && has "$err" "shop-prod/shop" &&
    has "$err" "ProgressDeadlineExceeded" || fail "apply of a failing rollout: $(ran apply)"
  [ "$(status_of "$base" prod env.prod/app.shop/need.workload/kubernetes.deployment.app)" = tainted ] ||
    fail "the deployment whose rollout failed is not tainted in state: $(status_of "$base" prod env.prod/app.shop/need.workload/kubernetes.deployment.app)"
  cp "$tmp/shop.idp.orig" "$base/shop.idp"
  run "$base" apply -env prod -auto-approve
  [ "$rc" -eq 0 ] && has "$out" "Apply complete!" || fail "apply after the image is put back: $(ran apply)"
  run "$base" plan -env prod -detailed-exitcode
  [ "$rc" -eq 0 ] || fail "plan after: $(ran plan)"
  check "12. a failing rollout: apply exits 1 naming the deployment and the condition, the state marks it tainted; then it converges"
  k8s_fake_stop
  unset KUBECONFIG
fi

# --- 10. secrets -------------------------------------------------------------------------------
secrets=("$PDNS_API_KEY" "$PG_ADMIN_PASSWORD" "$IDP_STATE_KEY" "${passwords[@]}")
what=(PDNS_API_KEY "the PostgreSQL admin password" IDP_STATE_KEY)
[ ${#passwords[@]} -ge 5 ] || fail "only ${#passwords[@]} generated passwords harvested"
files=("$tmp"/log/* "$base"/*.plan "$bulk"/*.plan "$base"/.idp/state/*.json "$bulk"/.idp/state/*.json "$PG_LOG")
while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$MANIFEST_DIR" -type f -print0)
for i in "${!secrets[@]}"; do
  hits=$(grep -lF -- "${secrets[$i]}" "${files[@]}" 2>/dev/null)
  [ -n "$hits" ] && fail "${what[$i]:-generated password $((i - 2))} is in: $hits"
done
check "10. no secret in any plan, state, rendered manifest, output or the PostgreSQL log (${#files[@]} files)"
echo "# apply: the scenarios took $((SECONDS - t0)) s"
exit 0
