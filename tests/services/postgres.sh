# tests/services/postgres.sh - a real PostgreSQL 15 on loopback, for the postgres driver tests.
# Source it from bash, then:
#
#   pg_check        0 if PostgreSQL 15, psql and libpq are installed; else tries to install them
#                   (apt-get, as root or through sudo; /usr/sbin/policy-rc.d blocks the package's
#                   own server from starting) and prints why it could not
#   pg_required     0 when a missing server must fail the suite (CI, or IDP_TEST_REQUIRE_SERVICES=1),
#                   1 when it may skip
#   pg_start        initdb's a cluster in a temp dir and starts it on 127.0.0.1 and a free port
#                   (as the postgres user when run as root: initdb refuses root). Password auth
#                   (scram-sha-256) over TCP, log_statement=all into PG_LOG. Exports PG_PORT,
#                   PG_ADMIN_PASSWORD, PG_ADMIN_DSN (the superuser `postgres`), PG_DIR, PG_LOG.
#                   Returns 1 with a message if it fails. Call pg_stop from the sourcing script's
#                   EXIT trap (pg_start sets none: it would replace the caller's).
#   pg_psql ARGS... psql as the superuser (-X -q -At, ON_ERROR_STOP)
#   pg_stop         stops it (pg_ctl -m fast) and removes its temp dir

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

_pg_installed() {
  [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] && command -v psql >/dev/null 2>&1 &&
    [ -e /usr/include/postgresql/libpq-fe.h ]
}

pg_check() {
  _pg_installed && return 0
  svc_install postgresql libpq-dev >&2
  _pg_installed && return 0
  echo "PostgreSQL 15 is not installed and apt-get could not install it (postgresql libpq-dev)"
  return 1
}

pg_required() { svc_required; }


# Runs a server binary as the owner of the data directory.
_pg_as() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_start() {
  pg_check >&2 || return 1
  PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/idp-postgres.XXXXXX") || return 1
  chmod 700 "$PG_DIR"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$PG_DIR"
  PG_LOG="$PG_DIR/log"
  PG_ADMIN_PASSWORD="adm$RANDOM$RANDOM$RANDOM"
  (umask 077 && echo "$PG_ADMIN_PASSWORD" >"$PG_DIR/pwfile")
  [ "$(id -u)" -eq 0 ] && chown postgres: "$PG_DIR/pwfile"
  if ! _pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --pwfile="$PG_DIR/pwfile" --auth-local=trust \
    --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-sync >"$PG_DIR/initdb.log" 2>&1; then
    echo "pg_start: initdb failed:" >&2
    tail -5 "$PG_DIR/initdb.log" >&2
    return 1
  fi
  rm -f "$PG_DIR/pwfile"
  local try
  for try in 1 2 3 4 5; do
    PG_PORT=$(svc_free_port) || break
    if _pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_LOG" -w -t 30 start -o "-p $PG_PORT -k $PG_DIR \
-c listen_addresses=127.0.0.1 -c fsync=off -c log_statement=all -c log_connections=on" >/dev/null 2>&1; then
      export PG_PORT PG_ADMIN_PASSWORD PG_DIR PG_LOG
      export PG_ADMIN_DSN="host=127.0.0.1 port=$PG_PORT user=postgres password=$PG_ADMIN_PASSWORD dbname=postgres"
      return 0
    fi
  done
  echo "pg_start: PostgreSQL did not come up; its log:" >&2
  tail -5 "$PG_LOG" >&2
  return 1
}

pg_psql() {
  psql "$PG_ADMIN_DSN" -X -q -At -v ON_ERROR_STOP=1 "$@"
}

pg_stop() {
  if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ]; then
    _pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1
  fi
  [ -n "${PG_DIR:-}" ] && rm -rf "$PG_DIR"
  PG_DIR=
}
