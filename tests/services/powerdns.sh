# tests/services/powerdns.sh - a real PowerDNS Authoritative (4.7, gsqlite3 backend, HTTP API) on
# loopback, for the driver tests. Source it from bash, then:
#
#   pdns_check        0 if pdns_server, its sqlite3 backend, sqlite3, dig and curl are there; if
#                     not, tries to install them (apt-get, as root or through sudo, with
#                     /usr/sbin/policy-rc.d blocking service starts); prints why and returns 1
#                     when they are still missing
#   pdns_required     0 when a missing PowerDNS must fail the suite (CI set, as .ci/run does, or
#                     IDP_TEST_REQUIRE_SERVICES=1), 1 when it may skip
#   pdns_start        starts pdns_server on 127.0.0.1: a free DNS port and a free webserver (API)
#                     port, a fresh gsqlite3 database and its config in a temp dir, a random API
#                     key, caches off. Waits until the API answers. Exports PDNS_API
#                     (http://127.0.0.1:PORT), PDNS_API_KEY and PDNS_DNS_PORT; sets PDNS_PID,
#                     PDNS_DIR and PDNS_LOG (its output). Returns 1 with a message if it fails.
#   pdns_stop         stops the server by its PID and removes its temp dir (call it from the
#                     sourcing script's EXIT trap)
#
# Per ../../../shared/design/SERVICES.md: no systemd, never the packaged /etc config.
# shellcheck shell=bash

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

_pdns_missing() {
  local missing=()
  command -v pdns_server >/dev/null 2>&1 || [ -x /usr/sbin/pdns_server ] || missing+=(pdns-server)
  [ -f /usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql ] || missing+=(pdns-backend-sqlite3)
  command -v sqlite3 >/dev/null 2>&1 || missing+=(sqlite3)
  command -v dig >/dev/null 2>&1 || missing+=(bind9-dnsutils)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  echo "${missing[*]}"
}

pdns_check() {
  local missing
  missing=$(_pdns_missing)
  [ -z "$missing" ] && return 0
  # shellcheck disable=SC2086
  svc_install $missing || return 1
  missing=$(_pdns_missing)
  if [ -n "$missing" ]; then
    echo "missing packages: $missing (still missing after apt-get install)"
    return 1
  fi
}

pdns_required() { svc_required; }


pdns_start() {
  pdns_check >&2 || return 1
  local pdns=pdns_server
  command -v pdns_server >/dev/null 2>&1 || pdns=/usr/sbin/pdns_server
  PDNS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/idp-pdns.XXXXXX")
  PDNS_LOG="$PDNS_DIR/pdns.log"
  if ! sqlite3 "$PDNS_DIR/pdns.sqlite3" </usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql 2>"$PDNS_LOG"; then
    echo "pdns_start: cannot create the database:" >&2
    cat "$PDNS_LOG" >&2
    return 1
  fi
  PDNS_API_KEY="idp-test-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  local dns web code
  for _ in 1 2 3 4 5; do
    if ! dns=$(svc_free_port udp) || ! web=$(svc_free_port udp); then break; fi
    [ "$dns" = "$web" ] && continue
    cat >"$PDNS_DIR/pdns.conf" <<EOF
launch=gsqlite3
gsqlite3-database=$PDNS_DIR/pdns.sqlite3
local-address=127.0.0.1
local-port=$dns
socket-dir=$PDNS_DIR
daemon=no
guardian=no
disable-syslog=yes
write-pid=no
security-poll-suffix=
api=yes
api-key=$PDNS_API_KEY
webserver=yes
webserver-address=127.0.0.1
webserver-port=$web
webserver-allow-from=127.0.0.1
cache-ttl=0
negquery-cache-ttl=0
query-cache-ttl=0
zone-cache-refresh-interval=0
EOF
    chmod 0600 "$PDNS_DIR/pdns.conf"
    "$pdns" --config-dir="$PDNS_DIR" >>"$PDNS_LOG" 2>&1 </dev/null &
    PDNS_PID=$!
    PDNS_API="http://127.0.0.1:$web"
    PDNS_DNS_PORT=$dns
    for _ in $(seq 1 200); do
      if ! kill -0 "$PDNS_PID" 2>/dev/null; then break; fi # exited: a port was taken
      code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $PDNS_API_KEY" \
        "$PDNS_API/api/v1/servers/localhost" 2>/dev/null)
      if [ "$code" = 200 ]; then
        export PDNS_API PDNS_API_KEY PDNS_DNS_PORT
        return 0
      fi
      sleep 0.05
    done
    kill "$PDNS_PID" 2>/dev/null
    wait "$PDNS_PID" 2>/dev/null
  done
  PDNS_PID=
  echo "pdns_start: pdns_server did not come up; its log:" >&2
  tail -5 "$PDNS_LOG" >&2
  return 1
}

pdns_stop() {
  if [ -n "${PDNS_PID:-}" ]; then
    kill "$PDNS_PID" 2>/dev/null
    wait "$PDNS_PID" 2>/dev/null
  fi
  [ -n "${PDNS_DIR:-}" ] && rm -rf "$PDNS_DIR"
  PDNS_PID=
  PDNS_DIR=
}
