#!/usr/bin/env bash
# tests/drivers/powerdns.sh BUILD_DIR - the powerdns driver's API code against a real PowerDNS
# Authoritative (tests/services/powerdns.sh), through BUILD_DIR/drvcall: each operation's JSON
# answer is compared exactly, and what the server then serves is checked with dig. Covers zone
# create / adopt (decision 11) / nameserver update in place (decision 13) / read / drift / delete,
# record create / adopt / update / read / drift / delete (twice), the API's own messages (401,
# 422), names without the final dot, a wrong server_id, a stopped server; every output is searched
# for the API key. Prints TAP-style lines; without PowerDNS it fails under CI and skips elsewhere.
set -u

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh" powerdns "$@" || exit 0
# shellcheck source=../services/powerdns.sh
. "$here/../services/powerdns.sh"
if ! why=$(pdns_check 2>&1); then
  if pdns_required; then bad "setup" "$why"; else echo "ok - powerdns # SKIP $why"; fi
  exit 0
fi
tmp=$(mktemp -d)
trap 'pdns_stop; rm -rf "$tmp"' EXIT
if ! pdns_start >/dev/null 2>"$tmp/start.err"; then
  bad "setup: pdns_start" "$(cat "$tmp/start.err")"
  exit 0
fi

key=$PDNS_API_KEY
wrong_key="wrong-$key"
# The integration's inputs, in drvcall's canonical form (keys sorted, compact), so that read's
# echo of the `server` input can be cut out exactly before comparing and before the key search.
S="{\"api\":\"$PDNS_API\",\"api_key\":\"$key\",\"server_id\":\"localhost\"}"
zone=drv.test.
n=0

# call KIND OP REQUEST: runs drvcall; leaves $out (stdout, server input and serials normalised),
# $err (stderr) and $rc.
call() {
  n=$((n + 1))
  printf '%s' "$3" | timeout 60 "$drvcall" "$1" "$2" >"$tmp/out.$n" 2>"$tmp/err.$n"
  rc=$?
  out=$(cat "$tmp/out.$n")
  out=${out//"$S"/S}
  out=$(sed -E 's/"serial":[0-9]+/"serial":N/g' <<<"$out")
  err=$(cat "$tmp/err.$n")
}
# expect NAME WANT: the last call succeeded with stdout WANT
expect() {
  if [ "$rc" -eq 0 ] && [ "$out" = "$2" ]; then ok "$1"; else bad "$1" "exit $rc" "want: $2" "got:  $out" "$err"; fi
}
# expect_err NAME PATTERN...: the last call failed (exit 1) with one stderr line matching each
# grep -E PATTERN
expect_err() {
  local name=$1 p
  shift
  if [ "$rc" -ne 1 ] || [ "$(wc -l <<<"$err")" -ne 1 ]; then
    bad "$name" "want exit 1 and one line on stderr; got exit $rc" "$err"
    return
  fi
  for p in "$@"; do
    if ! grep -qE -- "$p" <<<"$err"; then
      bad "$name" "stderr does not match: $p" "$err"
      return
    fi
  done
  ok "$name"
}
# dns NAME TYPE: what PowerDNS serves (dig +short, sorted)
dns() { dig @127.0.0.1 -p "$PDNS_DNS_PORT" +short +time=2 +tries=1 "$1" "$2" | sort; }
# status NAME TYPE: the answer's status (NOERROR, NXDOMAIN, REFUSED, ...)
status() { dig @127.0.0.1 -p "$PDNS_DNS_PORT" +noall +comments +time=2 +tries=1 "$1" "$2" | sed -n 's/.*status: \([A-Z]*\).*/\1/p'; }
# expect_dns NAME GOT WANT
expect_dns() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "want: $3" "got:  $2"; fi; }
serial_of() { dig @127.0.0.1 -p "$PDNS_DNS_PORT" +short +time=2 +tries=1 "$zone" SOA | cut -d' ' -f3; }
# curl_api METHOD PATH [BODY]: PowerDNS's API directly, behind idp's back
curl_api() {
  curl -sS -o /dev/null -w '%{http_code}' -X "$1" -H "X-API-Key: $key" ${3:+-d "$3"} "$PDNS_API/api/v1/servers/localhost$2"
}

zone_in() { # zone_in NAMESERVERS [EXTRA]: the zone's inputs
  printf '{"server":%s,"name":"%s","kind":"Native","nameservers":%s,"masters":[],"soa_edit_api":"DEFAULT"%s}' \
    "$S" "$zone" "$1" "${2:+,$2}"
}
zone_prior() { printf '{"prior":{"inputs":%s,"outputs":{"id":"%s"}}}' "$(zone_in "$1" "${2:-}")" "$zone"; }
rec_in() { # rec_in NAME TYPE TTL RECORDS
  printf '{"server":%s,"zone":"%s","name":"%s","type":"%s","ttl":%s,"records":%s}' "$S" "$zone" "$1" "$2" "$3" "$4"
}
# update_req PRIOR INPUTS: an update's request from a read/delete request and the new inputs
update_req() { printf '%s,"inputs":%s}' "${1%\}}" "$2"; }
rec_prior() { printf '{"prior":{"inputs":%s,"outputs":{"id":"%s/%s/%s"}}}' "$(rec_in "$@")" "$zone" "$1" "$2"; }

# --- zones ---------------------------------------------------------------------------------------

call powerdns.zone create "{\"inputs\":$(zone_in '["ns1.drv.test.","ns2.drv.test."]')}"
expect "zone create" '{"outputs":{"id":"drv.test.","serial":N}}'
expect_dns "zone create: dig NS" "$(dns drv.test NS)" "$(printf 'ns1.drv.test.\nns2.drv.test.')"
serial1=$(serial_of)
if [ -n "$serial1" ] && grep -q "\"serial\":$serial1}" "$tmp/out.$n"; then ok "zone create: dig SOA serves the serial it returned"; else
  bad "zone create: dig SOA serves the serial it returned" "dig: $serial1" "$(cat "$tmp/out.$n")"; fi

call powerdns.zone create "{\"inputs\":$(zone_in '["ns1.drv.test.","ns2.drv.test."]')}"
expect "zone create again adopts it (decision 11)" '{"outputs":{"id":"drv.test.","serial":N}}'
call powerdns.zone create "{\"inputs\":$(zone_in '["ns2.drv.test.","ns1.drv.test."]' '"account":"team-a"')}"
expect "zone create adopting updates it to the desired values" '{"outputs":{"id":"drv.test.","serial":N}}'
call powerdns.zone read "$(zone_prior '["ns2.drv.test.","ns1.drv.test."]' '"account":"team-a"')"
expect "zone read after adopt: account set, nameservers in the spec's order" \
  '{"read":{"inputs":{"account":"team-a","kind":"Native","masters":[],"name":"drv.test.","nameservers":["ns2.drv.test.","ns1.drv.test."],"server":S,"soa_edit_api":"DEFAULT"},"outputs":{"id":"drv.test.","serial":N}}}'

call powerdns.zone update "$(update_req "$(zone_prior '["ns1.drv.test.","ns2.drv.test."]')" "$(zone_in '["ns3.drv.test.","ns4.other.test."]')")"
expect "zone update nameservers" '{"outputs":{"id":"drv.test.","serial":N}}'
expect_dns "zone update: dig NS shows the new set in place (decision 13)" "$(dns drv.test NS)" "$(printf 'ns3.drv.test.\nns4.other.test.')"
serial2=$(serial_of)
if [ -n "$serial2" ] && [ "$serial2" -gt "$serial1" ] && grep -q "\"serial\":$serial2}" "$tmp/out.$n"; then
  ok "zone update: the serial moved on, and update returned it"
else bad "zone update: the serial moved on, and update returned it" "before: $serial1, dig: $serial2" "$(cat "$tmp/out.$n")"; fi

call powerdns.zone read "$(zone_prior '["ns3.drv.test.","ns4.other.test."]')"
expect "zone read returns the current values" \
  '{"read":{"inputs":{"kind":"Native","masters":[],"name":"drv.test.","nameservers":["ns3.drv.test.","ns4.other.test."],"server":S,"soa_edit_api":"DEFAULT"},"outputs":{"id":"drv.test.","serial":N}}}'

code=$(curl_api PUT /zones/drv.test. '{"kind":"Master","account":"someone"}')
call powerdns.zone read "$(zone_prior '["ns3.drv.test.","ns4.other.test."]')"
expect "zone read shows drift made behind idp's back (PUT $code)" \
  '{"read":{"inputs":{"account":"someone","kind":"Master","masters":[],"name":"drv.test.","nameservers":["ns3.drv.test.","ns4.other.test."],"server":S,"soa_edit_api":"DEFAULT"},"outputs":{"id":"drv.test.","serial":N}}}'
call powerdns.zone update "$(update_req "$(zone_prior '["ns3.drv.test.","ns4.other.test."]')" "$(zone_in '["ns3.drv.test.","ns4.other.test."]')")"
call powerdns.zone read "$(zone_prior '["ns3.drv.test.","ns4.other.test."]')"
expect "zone update puts the drifted settings back" \
  '{"read":{"inputs":{"kind":"Native","masters":[],"name":"drv.test.","nameservers":["ns3.drv.test.","ns4.other.test."],"server":S,"soa_edit_api":"DEFAULT"},"outputs":{"id":"drv.test.","serial":N}}}'

call powerdns.zone create "{\"inputs\":$(zone_in '[]' | sed 's/"name":"drv.test."/"name":"nodot.test"/')}"
expect_err "zone name without the final dot: a clear error" "zone name 'nodot.test' is not fully qualified: it must end in '\.' \(nodot\.test\.\)"
call powerdns.zone create "{\"inputs\":$(zone_in '[]' | sed 's/"kind":"Native"/"kind":"Primary"/')}"
expect_err "zone kind PowerDNS does not know: a clear error" "zone kind 'Primary' is not one of Native, Master, Slave"
call powerdns.zone create "{\"inputs\":$(zone_in '["ns1.bad"]' | sed 's/drv.test./bad.test./')}"
expect_err "zone create, a 422: the API's own message" '^drvcall: powerdns.zone create: POST /api/v1/servers/localhost/zones: 422 Nameserver is not canonical'

# --- records -------------------------------------------------------------------------------------

call powerdns.record create "{\"inputs\":$(rec_in www.drv.test. A 300 '["192.0.2.1","192.0.2.2"]')}"
expect "record create" '{"outputs":{"id":"drv.test./www.drv.test./A"}}'
expect_dns "record create: dig A shows the records" "$(dns www.drv.test A)" "$(printf '192.0.2.1\n192.0.2.2')"
call powerdns.record create "{\"inputs\":$(rec_in www.drv.test. A 300 '["192.0.2.2","192.0.2.1"]')}"
expect "record create finding the rrset there adopts it" '{"outputs":{"id":"drv.test./www.drv.test./A"}}'

call powerdns.record update "$(update_req "$(rec_prior www.drv.test. A 300 '["192.0.2.1","192.0.2.2"]')" "$(rec_in www.drv.test. A 60 '["192.0.2.3"]')")"
expect "record update ttl and records" '{"outputs":{"id":"drv.test./www.drv.test./A"}}'
got=$(dig @127.0.0.1 -p "$PDNS_DNS_PORT" +noall +answer +time=2 +tries=1 www.drv.test A | awk '{print $2, $5}')
expect_dns "record update: dig shows the new ttl and records" "$got" "60 192.0.2.3"

call powerdns.record read "$(rec_prior www.drv.test. A 60 '["192.0.2.3"]')"
expect "record read returns the current values" \
  '{"read":{"inputs":{"name":"www.drv.test.","records":["192.0.2.3"],"server":S,"ttl":60,"type":"A","zone":"drv.test."},"outputs":{"id":"drv.test./www.drv.test./A"}}}'

code=$(curl_api PATCH /zones/drv.test. '{"rrsets":[{"name":"www.drv.test.","type":"A","ttl":30,"changetype":"REPLACE","records":[{"content":"198.51.100.7","disabled":false},{"content":"198.51.100.8","disabled":false}]}]}')
call powerdns.record read "$(rec_prior www.drv.test. A 60 '["192.0.2.3"]')"
expect "record read shows drift made behind idp's back (PATCH $code)" \
  '{"read":{"inputs":{"name":"www.drv.test.","records":["198.51.100.7","198.51.100.8"],"server":S,"ttl":30,"type":"A","zone":"drv.test."},"outputs":{"id":"drv.test./www.drv.test./A"}}}'

call powerdns.record read "$(rec_prior nothing.drv.test. A 60 '["192.0.2.3"]')"
expect "record read of an absent rrset: null" '{"read":null}'

call powerdns.record create "{\"inputs\":$(rec_in www.drv.test. CNAME 300 '["other.drv.test."]')}"
expect_err "record create, CNAME beside A: the API's 422 and message" \
  '^drvcall: powerdns.record create: PATCH /api/v1/servers/localhost/zones/drv.test.: 422 RRset www.drv.test. IN CNAME: Conflicts with pre-existing RRset$'
call powerdns.record create "{\"inputs\":$(rec_in api.drv.test A 300 '["192.0.2.1"]')}"
expect_err "record name without the final dot: a clear error" "record name 'api.drv.test' is not fully qualified: it must end in '\.' \(api\.drv\.test\.\)"
call powerdns.record create "{\"inputs\":$(rec_in www.elsewhere.test. A 300 '["192.0.2.1"]')}"
expect_err "record outside its zone: the API's message" '422 RRset www.elsewhere.test. IN A: Name is out of zone'
call powerdns.record create "{\"inputs\":$(rec_in www.drv.test. A 300 '[]')}"
expect_err "record with no records: a clear error" 'records is empty'

call powerdns.record delete "$(rec_prior www.drv.test. A 60 '["192.0.2.3"]')"
expect "record delete" '{}'
expect_dns "record delete: dig says NXDOMAIN" "$(status www.drv.test A)" "NXDOMAIN"
call powerdns.record read "$(rec_prior www.drv.test. A 60 '["192.0.2.3"]')"
expect "record read after delete: null" '{"read":null}'
call powerdns.record delete "$(rec_prior www.drv.test. A 60 '["192.0.2.3"]')"
expect "record delete again (already gone) succeeds" '{}'

# --- errors that are not the zone's ----------------------------------------------------------------

call powerdns.zone read "$(zone_prior '[]' | sed "s/\"api_key\":\"$key\"/\"api_key\":\"$wrong_key\"/")"
expect_err "wrong api key: 401 and a hint, without the key" \
  '^drvcall: powerdns.zone read: GET /api/v1/servers/localhost/zones/drv.test.: 401 Unauthorized \(check the integration.s api_key\)$'
call powerdns.zone read "$(zone_prior '[]' | sed 's/"server_id":"localhost"/"server_id":"nope"/')"
expect_err "wrong server_id: an error, not a zone read as gone" '404 Not Found: no such server'

# --- zone delete -------------------------------------------------------------------------------------

call powerdns.record create "{\"inputs\":$(rec_in mail.drv.test. MX 300 '["10 mx.drv.test."]')}"
expect "record create MX" '{"outputs":{"id":"drv.test./mail.drv.test./MX"}}'
call powerdns.zone delete "$(zone_prior '["ns3.drv.test.","ns4.other.test."]')"
expect "zone delete" '{}'
expect_dns "zone delete: dig SOA is refused (not served)" "$(status drv.test SOA)" "REFUSED"
call powerdns.zone read "$(zone_prior '["ns3.drv.test.","ns4.other.test."]')"
expect "zone read after delete: null" '{"read":null}'
call powerdns.zone delete "$(zone_prior '["ns3.drv.test.","ns4.other.test."]')"
expect "zone delete again (already gone) succeeds" '{}'
call powerdns.record read "$(rec_prior mail.drv.test. MX 300 '["10 mx.drv.test."]')"
expect "record read in a deleted zone: null" '{"read":null}'
call powerdns.record delete "$(rec_prior mail.drv.test. MX 300 '["10 mx.drv.test."]')"
expect "record delete in a deleted zone succeeds" '{}'

# --- PowerDNS stopped ----------------------------------------------------------------------------------

pdns_stop
start=$(date +%s)
call powerdns.zone read "$(zone_prior '[]')"
took=$(($(date +%s) - start))
expect_err "PowerDNS stopped: a connection error after the retries (${took}s)" \
  "^drvcall: powerdns.zone read: GET $PDNS_API/api/v1/servers/localhost/zones/drv.test.: .*(Couldn't connect|Failed to connect).*\([0-9]+ attempts\)$"

# --- the key never shows -------------------------------------------------------------------------------

# Every stdout and stderr; read echoes the `server` input it was given, cut out above (as $S) and
# here, since that is the caller's own value passed through, not something the driver printed.
leaks=$(for f in "$tmp"/out.* "$tmp"/err.*; do
  sed -e "s|$S|S|g" "$f" | grep -qF -e "$key" && echo "$f"
done)
if [ "$n" -gt 0 ] && [ -z "$leaks" ]; then ok "the api key appears in no output ($n calls)"; else
  bad "the api key appears in no output ($n calls)" "found in: $leaks"; fi
