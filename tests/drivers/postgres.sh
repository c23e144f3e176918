#!/usr/bin/env bash
# tests/drivers/postgres.sh BUILD_DIR - the postgres driver (runtime/drivers/postgres.c) against a
# real PostgreSQL 15 on loopback (tests/services/postgres.sh), through BUILD_DIR/drvcall; every
# effect is checked with psql. Prints TAP lines. Without PostgreSQL it skips, or fails under CI.
#
# drvcall prints values in plaintext (nothing is secret-marked there), and read returns prior's
# inputs (the server's dsn, the write-only password): those two fields of read's answers are
# checked, then blanked in the record that is grepped for the test passwords at the end.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${1:?usage: tests/drivers/postgres.sh BUILD_DIR}
case $BUILD in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac
DRVCALL="$BUILD/drvcall"
. tests/services/postgres.sh

if ! why=$(pg_check 2>&1); then
  if pg_required; then
    echo "not ok - postgres: server installed"
    echo "  $why"
    exit 1
  fi
  echo "ok - postgres driver # SKIP $why"
  exit 0
fi
if ! pg_start 2>"${TMPDIR:-/tmp}/idp-pg-start.$$"; then
  echo "not ok - postgres: server starts"
  sed 's/^/  /' "${TMPDIR:-/tmp}/idp-pg-start.$$"
  rm -f "${TMPDIR:-/tmp}/idp-pg-start.$$"
  exit 1
fi
rm -f "${TMPDIR:-/tmp}/idp-pg-start.$$"
T=$(mktemp -d "${TMPDIR:-/tmp}/idp-pgtest.XXXXXX")
trap 'pg_stop; rm -rf "$T"' EXIT

PW1="first$RANDOM$RANDOM$RANDOM"
PW2="second$RANDOM$RANDOM$RANDOM"
PW3="third$RANDOM$RANDOM$RANDOM"
WRONG="wrong$RANDOM$RANDOM$RANDOM"
SRV="{\"dsn\": \"$PG_ADMIN_DSN\"}"
ALL="$T/all-output" # everything drvcall printed (read's dsn and password blanked)
: >"$ALL"

# call KIND OP REQUEST: runs drvcall; sets RC, OUT, ERR.
call() {
  printf '%s' "$3" >"$T/req"
  "$DRVCALL" "$1" "$2" <"$T/req" >"$T/out" 2>"$T/err"
  RC=$?
  OUT=$(cat "$T/out")
  ERR=$(cat "$T/err")
  if [ "$2" = read ]; then
    sed -e 's/"dsn":"[^"]*"/"dsn":"-"/g' -e 's/"password":"[^"]*"/"password":"-"/g' "$T/out" >>"$ALL"
  else
    cat "$T/out" >>"$ALL"
  fi
  cat "$T/err" >>"$ALL"
}

# Test bookkeeping: begin NAME; want DESCRIPTION COMMAND...; end.
begin() {
  NAME=$1
  FAILS=()
  RC= OUT= ERR=
}
want() {
  local d=$1
  shift
  "$@" || FAILS+=("$d")
}
end() {
  if [ ${#FAILS[@]} -eq 0 ]; then
    echo "ok - postgres: $NAME"
  else
    echo "not ok - postgres: $NAME"
    printf '  failed: %s\n' "${FAILS[@]}"
    printf '  last drvcall: exit %s\n  stdout: %s\n  stderr: %s\n' "$RC" \
      "$(sed -e 's/"dsn":"[^"]*"/"dsn":"-"/g' -e 's/"password":"[^"]*"/"password":"-"/g' <<<"$OUT")" "$ERR"
  fi
}
has() { grep -qF -- "$2" <<<"$1"; }       # has TEXT NEEDLE
lacks() { ! grep -qF -- "$2" <<<"$1"; }   # lacks TEXT NEEDLE
eq() { [ "$1" = "$2" ]; }
q() { pg_psql -c "$1" 2>&1; }             # q SQL: psql's answer as the superuser
login() { # login USER PASSWORD [DB]: the user connects with the password
  PGCONNECT_TIMEOUT=5 psql "host=127.0.0.1 port=$PG_PORT user=$1 password=$2 dbname=${3:-postgres}" \
    -X -At -c 'SELECT current_user' 2>/dev/null | grep -qxF -- "$1"
}
oid_of() { sed -n 's/.*"oid":\([0-9][0-9]*\).*/\1/p' <<<"$1"; }

role() { printf '{"server": %s, "name": "%s"%s}' "$SRV" "$1" "${2:+, $2}"; }
database() { printf '{"server": %s, "name": "%s"%s}' "$SRV" "$1" "${2:+, $2}"; }
prior() { printf '{"inputs": %s, "outputs": {"oid": %s}}' "$1" "${2:-0}"; }

# --- the integration -------------------------------------------------------------------------

begin "configure derives host and port from the dsn, not secret"
call postgres configure "{\"inputs\": $SRV}"
want "exit 0" eq "$RC" 0
want "host and port" eq "$OUT" "{\"outputs\":{\"host\":\"127.0.0.1\",\"port\":$PG_PORT}}"
call postgres configure "{\"inputs\": {\"dsn\": \"postgresql://u:$WRONG@db.example.test:6543,other:1/x\"}}"
want "URI: first host and port" eq "$OUT" '{"outputs":{"host":"db.example.test","port":6543}}'
call postgres configure "{\"inputs\": {\"dsn\": \"host=h password=$WRONG nonsense\"}}"
want "a malformed dsn fails" eq "$RC" 1
want "saying so" has "$ERR" "not a libpq connection string"
want "without quoting the dsn" lacks "$ERR" "$WRONG"
end

# --- postgres.role ---------------------------------------------------------------------------

APP="app_pr-7"
APP_IN=$(role "$APP" "\"password\": \"$PW1\", \"login\": true, \"connection_limit\": 5")
begin "role create: logs in with its password, stored as a SCRAM hash"
call postgres.role create "{\"inputs\": $APP_IN}"
APP_OID=$(oid_of "$OUT")
want "exit 0" eq "$RC" 0
want "outputs the oid" eq "$APP_OID" "$(q "SELECT oid FROM pg_roles WHERE rolname = '$APP'")"
want "login, connection limit 5" eq "$(q "SELECT rolcanlogin, rolconnlimit, rolsuper FROM pg_roles WHERE rolname = '$APP'")" "t|5|f"
want "logs in with the password" login "$APP" "$PW1"
want "refuses another password" eval '! login "$APP" "$WRONG"'
HASH1=$(q "SELECT rolpassword FROM pg_authid WHERE rolname = '$APP'")
want "pg_authid holds a SCRAM hash" eval '[[ $HASH1 == SCRAM-SHA-256\$* ]]'
want "not the plaintext" lacks "$HASH1" "$PW1"
end

begin "role create again: adopts it, same oid (decision 11)"
call postgres.role create "{\"inputs\": $APP_IN}"
want "exit 0" eq "$RC" 0
want "same oid" eq "$(oid_of "$OUT")" "$APP_OID"
want "one role" eq "$(q "SELECT count(*) FROM pg_roles WHERE rolname = '$APP'")" 1
want "still logs in" login "$APP" "$PW1"
end

begin "role create adopts a role made outside idp and alters it"
q 'CREATE ROLE legacy NOLOGIN CONNECTION LIMIT 2' >/dev/null
LEGACY_OID=$(q "SELECT oid FROM pg_roles WHERE rolname = 'legacy'")
LEGACY_IN=$(role legacy "\"password\": \"$PW3\", \"login\": true, \"create_database\": true")
call postgres.role create "{\"inputs\": $LEGACY_IN}"
want "exit 0" eq "$RC" 0
want "its oid" eq "$(oid_of "$OUT")" "$LEGACY_OID"
want "login, createdb, no limit" eq "$(q "SELECT rolcanlogin, rolcreatedb, rolconnlimit FROM pg_roles WHERE rolname = 'legacy'")" "t|t|-1"
want "logs in with the new password" login legacy "$PW3"
end

begin "role update: connection limit, membership, expiry, new password; then login off"
APP_IN2=$(role "$APP" "\"password\": \"$PW2\", \"login\": true, \"connection_limit\": 10, \"roles\": [\"legacy\"], \"valid_until\": \"2031-01-01 00:00:00+00\"")
call postgres.role update "{\"prior\": $(prior "$APP_IN" "$APP_OID"), \"inputs\": $APP_IN2}"
want "exit 0" eq "$RC" 0
want "oid" eq "$(oid_of "$OUT")" "$APP_OID"
want "limit 10, expiry" eq "$(q "SELECT rolconnlimit, rolvaliduntil = '2031-01-01 00:00:00+00' FROM pg_roles WHERE rolname = '$APP'")" "10|t"
want "member of legacy" eq "$(q "SELECT pg_has_role('$APP', 'legacy', 'MEMBER')")" t
want "new password works" login "$APP" "$PW2"
want "old password does not" eval '! login "$APP" "$PW1"'
HASH2=$(q "SELECT rolpassword FROM pg_authid WHERE rolname = '$APP'")
want "a new SCRAM hash" eval '[[ $HASH2 == SCRAM-SHA-256\$* && $HASH2 != "$HASH1" ]]'
APP_IN3=$(role "$APP" "\"password\": \"$PW2\", \"login\": false, \"connection_limit\": 10, \"roles\": [\"legacy\"], \"valid_until\": \"2031-01-01 00:00:00+00\"")
call postgres.role update "{\"prior\": $(prior "$APP_IN2" "$APP_OID"), \"inputs\": $APP_IN3}"
want "exit 0 (login off)" eq "$RC" 0
want "cannot log in" eval '! login "$APP" "$PW2"'
want "rolcanlogin false" eq "$(q "SELECT rolcanlogin FROM pg_roles WHERE rolname = '$APP'")" f
end

begin "role read returns the current values; the password is write-only (prior's)"
call postgres.role read "{\"prior\": $(prior "$APP_IN3" "$APP_OID")}"
want "exit 0" eq "$RC" 0
for f in '"login":false' '"connection_limit":10' '"roles":["legacy"]' '"valid_until":"2031-01-01 00:00:00+00"' \
  '"superuser":false' '"inherit":true' "\"name\":\"$APP\"" "\"password\":\"$PW2\"" "\"outputs\":{\"oid\":$APP_OID}"; do
  want "$f" has "$OUT" "$f"
done
end

begin "role drift: changes behind idp's back show in read"
q "ALTER ROLE \"$APP\" LOGIN CONNECTION LIMIT 3 VALID UNTIL '2032-06-01 00:00:00+00'; REVOKE legacy FROM \"$APP\"" >/dev/null
call postgres.role read "{\"prior\": $(prior "$APP_IN3" "$APP_OID")}"
want "exit 0" eq "$RC" 0
for f in '"login":true' '"connection_limit":3' '"roles":[]' '"valid_until":"2032-06-01'; do
  want "$f" has "$OUT" "$f"
done
end

begin "role names are quoted identifiers, never SQL"
EVIL='evil\"; DROP ROLE legacy; --'
call postgres.role create "{\"inputs\": $(role "$EVIL")}"
want "exit 0" eq "$RC" 0
want "the role exists under that name" eq "$(q "SELECT count(*) FROM pg_roles WHERE rolname = 'evil\"; DROP ROLE legacy; --'")" 1
want "legacy is still there" eq "$(q "SELECT count(*) FROM pg_roles WHERE rolname = 'legacy'")" 1
call postgres.role delete "{\"prior\": $(prior "$(role "$EVIL")")}"
want "deleted" eq "$(q "SELECT count(*) FROM pg_roles WHERE rolname = 'evil\"; DROP ROLE legacy; --'")" 0
end

# --- postgres.database -----------------------------------------------------------------------

DB="shop_pr-7"
DB_IN=$(database "$DB" "\"owner\": \"$APP\"")
begin "database create: shop_pr-7 owned by the role"
call postgres.database create "{\"inputs\": $DB_IN}"
DB_OID=$(oid_of "$OUT")
want "exit 0" eq "$RC" 0
want "owner, encoding, oid" eq "$(q "SELECT pg_get_userbyid(datdba), pg_encoding_to_char(encoding), oid FROM pg_database WHERE datname = '$DB'")" "$APP|UTF8|$DB_OID"
call postgres.database create "{\"inputs\": $DB_IN}"
want "created again: adopted, same oid" eq "$(oid_of "$OUT")" "$DB_OID"
call postgres.database create "{\"inputs\": $(database c-locale '"lc_collate": "C", "lc_ctype": "C", "connection_limit": 3')}"
want "with locales: exit 0" eq "$RC" 0
want "its locales and limit" eq "$(q "SELECT datcollate, datctype, datconnlimit FROM pg_database WHERE datname = 'c-locale'")" "C|C|3"
end

begin "database read returns the current values"
call postgres.database read "{\"prior\": $(prior "$DB_IN" "$DB_OID")}"
want "exit 0" eq "$RC" 0
for f in "\"owner\":\"$APP\"" '"encoding":"UTF8"' '"connection_limit":-1' "\"name\":\"$DB\"" "\"outputs\":{\"oid\":$DB_OID}"; do
  want "$f" has "$OUT" "$f"
done
want "no locale read back when not set" lacks "$OUT" lc_collate
end

begin "database drift: changes behind idp's back show in read"
q "ALTER DATABASE \"$DB\" CONNECTION LIMIT 7; ALTER DATABASE \"$DB\" OWNER TO legacy" >/dev/null
call postgres.database read "{\"prior\": $(prior "$DB_IN" "$DB_OID")}"
want "exit 0" eq "$RC" 0
want "owner legacy" has "$OUT" '"owner":"legacy"'
want "limit 7" has "$OUT" '"connection_limit":7'
end

begin "database update: owner and connection limit"
DB_IN2=$(database "$DB" "\"owner\": \"$APP\", \"connection_limit\": 20")
call postgres.database update "{\"prior\": $(prior "$DB_IN" "$DB_OID"), \"inputs\": $DB_IN2}"
want "exit 0" eq "$RC" 0
want "owner and limit" eq "$(q "SELECT pg_get_userbyid(datdba), datconnlimit FROM pg_database WHERE datname = '$DB'")" "$APP|20"
end

begin "database create adopts one made outside idp; refuses another encoding"
q 'CREATE DATABASE "adopt-me"' >/dev/null
call postgres.database create "{\"inputs\": $(database adopt-me '"owner": "legacy", "connection_limit": 4')}"
want "exit 0" eq "$RC" 0
want "owner and limit set" eq "$(q "SELECT pg_get_userbyid(datdba), datconnlimit FROM pg_database WHERE datname = 'adopt-me'")" "legacy|4"
q "CREATE DATABASE latin ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0" >/dev/null
call postgres.database create "{\"inputs\": $(database latin)}"
want "another encoding fails" eq "$RC" 1
want "saying why" has "$ERR" 'database "latin" exists with encoding LATIN1, not UTF8'
call postgres.database create "{\"inputs\": $(database latin '"encoding": "latin1", "lc_collate": "C"')}"
want "the same encoding, spelled otherwise, adopts" eq "$RC" 0
call postgres.database read "{\"prior\": $(prior "$(database latin '"encoding": "latin1", "lc_collate": "C"')")}"
want "read keeps that spelling" has "$OUT" '"encoding":"latin1","lc_collate":"C"'
want "owned by the integration's user: no owner read back" lacks "$OUT" '"owner"'
end

begin "database delete with a live connection: refused without force_drop, done with it"
PGPASSWORD=$PG_ADMIN_PASSWORD psql "host=127.0.0.1 port=$PG_PORT user=postgres dbname=$DB" -X -q \
  -c 'SELECT pg_sleep(60)' >/dev/null 2>&1 &
HOLDER=$!
for _ in $(seq 1 100); do
  [ "$(q "SELECT count(*) FROM pg_stat_activity WHERE datname = '$DB'")" -ge 1 ] && break
  sleep 0.05
done
call postgres.database delete "{\"prior\": $(prior "$DB_IN2" "$DB_OID")}"
want "refused" eq "$RC" 1
want "saying why" has "$ERR" "DROP DATABASE \"$DB\": refused: 1 live connection to it; set force_drop = true"
want "still there" eq "$(q "SELECT count(*) FROM pg_database WHERE datname = '$DB'")" 1
DB_FORCE=$(database "$DB" "\"owner\": \"$APP\", \"connection_limit\": 20, \"force_drop\": true")
call postgres.database delete "{\"prior\": $(prior "$DB_FORCE" "$DB_OID")}"
want "force_drop: exit 0" eq "$RC" 0
want "gone" eq "$(q "SELECT count(*) FROM pg_database WHERE datname = '$DB'")" 0
kill "$HOLDER" 2>/dev/null
wait "$HOLDER" 2>/dev/null
end

begin "delete again is success; read of what is gone is null"
call postgres.database delete "{\"prior\": $(prior "$DB_IN2" "$DB_OID")}"
want "database: exit 0" eq "$RC" 0
call postgres.database read "{\"prior\": $(prior "$DB_IN2" "$DB_OID")}"
want "database read: null" eq "$OUT" '{"read":null}'
call postgres.role delete "{\"prior\": $(prior "$APP_IN3" "$APP_OID")}"
want "role: exit 0" eq "$RC" 0
want "role gone" eq "$(q "SELECT count(*) FROM pg_roles WHERE rolname = '$APP'")" 0
call postgres.role delete "{\"prior\": $(prior "$APP_IN3" "$APP_OID")}"
want "role again: exit 0" eq "$RC" 0
call postgres.role read "{\"prior\": $(prior "$APP_IN3" "$APP_OID")}"
want "role read: null" eq "$OUT" '{"read":null}'
end

begin "a role that still owns a database: the server's reason on one line"
call postgres.role delete "{\"prior\": $(prior "$LEGACY_IN")}"
want "exit 1" eq "$RC" 1
want "action and message" has "$ERR" 'DROP ROLE "legacy": role "legacy" cannot be dropped because some objects depend on it (owner of database adopt-me)'
want "one line" eq "$(wc -l <"$T/err")" 1
end

begin "wrong password in the dsn: a clear error without the dsn"
BAD="{\"dsn\": \"host=127.0.0.1 port=$PG_PORT user=postgres password=$WRONG dbname=postgres\"}"
call postgres.role read "{\"prior\": {\"inputs\": {\"server\": $BAD, \"name\": \"legacy\"}, \"outputs\": {}}}"
want "exit 1" eq "$RC" 1
want "says so" has "$ERR" 'connecting to the server: connection to server at "127.0.0.1", port '"$PG_PORT"' failed: FATAL: password authentication failed for user "postgres"'
want "no password" lacks "$ERR" "$WRONG"
want "no dsn" lacks "$ERR" "password="
end

begin "no test password in any output or in the server's log"
for pw in "$PW1" "$PW2" "$PW3" "$WRONG" "$PG_ADMIN_PASSWORD"; do
  want "drvcall output holds ${pw%%[0-9]*}..." eval '! grep -qF -- "$pw" "$ALL"'
  want "server log holds ${pw%%[0-9]*}..." eval '! grep -qF -- "$pw" "$PG_LOG"'
done
want "the log holds the statements (log_statement=all)" grep -qF 'PASSWORD '"'"'SCRAM-SHA-256$' "$PG_LOG"
want "idp's connections are named" grep -qF 'application_name=idp' "$PG_LOG"
end
