#!/usr/bin/env bash
# tests/drivers/http.sh BUILD_DIR - http.request's API code through BUILD_DIR/drvcall against a
# small REST server on loopback (tests/drivers/crud_server.py, python3): create (JSON and string
# bodies, the id from the body or from Location), what the server received (headers, body,
# Content-Type), read, drift made behind idp's back, update with {id} in URL and body, create
# adopting on 409 (decision 11), delete (twice), resources without read_url / delete_url, and the
# errors: the API's own message on 4xx, no query or secret in any message, a stopped server.
# Prints TAP-style lines.
set -u

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh" http "$@" || exit 0
if ! command -v python3 >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1; then
  bad "setup" "python3 and curl are needed (the test server, and changes behind idp's back)"
  exit 0
fi
tmp=$(mktemp -d)
server_pid=
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
    server_pid=
  fi
}
trap 'stop_server; rm -rf "$tmp"' EXIT

token=tok-$RANDOM-$RANDOM-secret
password=pw-$RANDOM-hunter2
python3 "$here/crud_server.py" "$tmp/port" "$token" 2>"$tmp/server.err" &
server_pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
if [ ! -s "$tmp/port" ]; then
  bad "setup: the test server did not start" "$(cat "$tmp/server.err")"
  exit 0
fi
port=$(cat "$tmp/port")
base=http://127.0.0.1:$port

S="{\"base_url\":\"$base\",\"headers\":{\"Authorization\":\"Bearer $token\"},\"timeout\":10}"
secret_marks='"secret":{"inputs":{"server":{"headers":true},"create_body":{"password":true}},"prior":{"inputs":{"server":{"headers":true},"create_body":{"password":true}}}}'
# req_in NAME [EXTRA]: a thing's inputs
req_in() {
  printf '{"server":%s,"create_url":"/things","create_body":{"name":"%s","password":"%s","size":1},"read_url":"/things/{id}","update_url":"/things/{id}","update_method":"PUT","update_body":{"name":"%s","size":2,"self":"/things/{id}"},"delete_url":"/things/{id}","output_paths":{"size":"size","self":"self","none":"a.b[0]"}%s}' \
    "$S" "$1" "$password" "$1" "${2:+,$2}"
}

n=0
# call OP REQUEST: runs drvcall; leaves $out, $err and $rc.
call() {
  n=$((n + 1))
  printf '%s' "$2" | timeout 60 "$drvcall" http.request "$1" >"$tmp/out.$n" 2>"$tmp/err.$n"
  rc=$?
  out=$(cat "$tmp/out.$n")
  err=$(cat "$tmp/err.$n")
}
expect() { if [ "$rc" -eq 0 ] && [ "$out" = "$2" ]; then ok "$1"; else bad "$1" "exit $rc" "want: $2" "got:  $out" "$err"; fi; }
# holds NAME PYTHON-EXPR: the last call succeeded and EXPR holds of its answer o
holds() {
  if [ "$rc" -ne 0 ]; then
    bad "$1" "exit $rc" "$err"
    return
  fi
  if OUT="$out" python3 -c "import json,os,sys; o=json.loads(os.environ['OUT']); sys.exit(0 if ($2) else 1)"; then ok "$1"; else
    bad "$1" "does not hold: $2" "got: $out"; fi
}
# expect_err NAME PATTERN: the last call failed with one stderr line matching PATTERN
expect_err() {
  if [ "$rc" -eq 1 ] && [ "$(wc -l <<<"$err")" -eq 1 ] && grep -qE -- "$2" <<<"$err"; then ok "$1"; else
    bad "$1" "want exit 1 and one line matching: $2" "exit $rc" "$err"; fi
}
# server_log PYTHON-EXPR: EXPR of the server's request log l (a list)
server_log() { curl -sS "$base/_log" | python3 -c "import json,sys; l=json.load(sys.stdin); print($1)"; }
# thing ID: the object as the server holds it
thing() { curl -sS -H "Authorization: Bearer $token" "$base/things/$1"; }

# --- create --------------------------------------------------------------------------------------

call create "{\"inputs\":$(req_in a),$secret_marks}"
expect "create: id from the body, outputs at their paths (absent: null), status" \
  '{"outputs":{"id":"1","outputs":{"none":null,"self":null,"size":1},"status":201}}'
got=$(server_log "json.dumps(l[-1], sort_keys=True)")
want="{\"authorization\": \"Bearer $token\", \"body\": \"{\\\"name\\\":\\\"a\\\",\\\"password\\\":\\\"$password\\\",\\\"size\\\":1}\", \"content_type\": \"application/json\", \"method\": \"POST\", \"path\": \"/things\"}"
if [ "$got" = "$want" ]; then ok "the server got the method, path, the integration's header, the JSON body and its Content-Type"; else
  bad "the server got the method, path, the integration's header, the JSON body and its Content-Type" "want: $want" "got:  $got"; fi

call create "{\"inputs\":{\"server\":$S,\"create_url\":\"$base/things\",\"create_body\":\"{\\\"name\\\": \\\"b\\\"}\",\"delete_url\":\"/things/{id}\"}}"
expect "create with an absolute URL and a string body" '{"outputs":{"id":"2","outputs":{},"status":201}}'
if [ "$(server_log "l[-1]['body'], l[-1]['content_type']")" = "{\"name\": \"b\"} application/json" ]; then ok "a string body goes as it is (JSON: application/json)"; else
  bad "a string body goes as it is (JSON: application/json)" "$(server_log "l[-1]")"; fi

call create "{\"inputs\":{\"server\":$S,\"create_url\":\"/things-noid\",\"create_body\":{\"name\":\"c\"},\"read_url\":\"/things/{id}\",\"output_paths\":{\"name\":\"name\"}}}"
expect "create answered 201 with only a Location: the id from it" '{"outputs":{"id":"3","outputs":{"name":null},"status":201}}'

# --- read, drift, update -------------------------------------------------------------------------

prior="{\"prior\":{\"inputs\":$(req_in a),\"outputs\":{\"id\":\"1\",\"outputs\":{\"size\":1},\"status\":201}},$secret_marks}"
call read "$prior"
holds "read: the current outputs, inputs unchanged where the object matches them" \
  "o['read']['outputs'] == {'id': '1', 'outputs': {'none': None, 'self': None, 'size': 1}, 'status': 200} and o['read']['inputs'] == json.loads('''$(req_in a)''') | {'update_body': {'name': 'a', 'size': 1, 'self': '/things/{id}'}}"

code=$(curl -sS -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $token" -d '{"name":"a","size":7,"self":"/things/1"}' "$base/things/1")
call read "$prior"
holds "read shows drift made behind idp's back (PUT $code): update_body.size, outputs.size; {id} kept where it matches" \
  "o['read']['inputs']['update_body'] == {'name': 'a', 'size': 7, 'self': '/things/{id}'} and o['read']['outputs']['outputs']['size'] == 7"

call update "$(printf '%s,"inputs":%s}' "${prior%\}}" "$(req_in a)")"
expect "update: PUT update_body with {id} in URL and body, outputs from the answer" \
  '{"outputs":{"id":"1","outputs":{"none":null,"self":"/things/1","size":2},"status":200}}'
if [ "$(thing 1 | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin), sort_keys=True))')" = '{"id": "1", "name": "a", "self": "/things/1", "size": 2}' ]; then ok "update: the server holds the new object"; else
  bad "update: the server holds the new object" "$(thing 1)"; fi
call read "$prior"
holds "read after update: no drift" "o['read']['inputs']['update_body'] == {'name': 'a', 'size': 2, 'self': '/things/{id}'} and o['read']['outputs']['outputs']['size'] == 2"

call update "{\"prior\":{\"inputs\":{},\"outputs\":{\"id\":\"2\",\"outputs\":{\"kept\":1},\"status\":201}},\"inputs\":{\"server\":$S,\"create_url\":\"/things\"}}"
expect "update without update_url or read_url: nothing sent, the outputs stay" '{"outputs":{"id":"2","outputs":{"kept":1},"status":201}}'

str_in="{\"server\":$S,\"create_url\":\"/things\",\"create_body\":\"{\\\"name\\\": \\\"s\\\", \\\"size\\\": 1}\",\"read_url\":\"/things/{id}\"}"
call create "{\"inputs\":$str_in}"
sid=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["outputs"]["id"])' <<<"$out" 2>/dev/null)
call read "{\"prior\":{\"inputs\":$str_in,\"outputs\":{\"id\":\"$sid\"}}}"
holds "a string body matching the object: read leaves it as written" "o['read']['inputs']['create_body'] == '{\"name\": \"s\", \"size\": 1}'"
curl -sS -o /dev/null -X PATCH -H "Authorization: Bearer $token" -d '{"size":9}' "$base/things/$sid"
call read "{\"prior\":{\"inputs\":$str_in,\"outputs\":{\"id\":\"$sid\"}}}"
holds "drift against a string body (no update_url: create_body) reads back as JSON text" "o['read']['inputs']['create_body'] == '{\"name\":\"s\",\"size\":9}'"
call delete "{\"prior\":{\"inputs\":{\"server\":$S,\"create_url\":\"/things\",\"delete_url\":\"/things/{id}\"},\"outputs\":{\"id\":\"$sid\"}}}"

# --- adoption (decision 11) ----------------------------------------------------------------------

adopt_in="{\"server\":$S,\"create_url\":\"/things\",\"create_body\":{\"name\":\"a\",\"size\":3},\"read_url\":\"/things/by-name/a\",\"update_url\":\"/things/{id}\",\"update_method\":\"PATCH\",\"update_body\":{\"size\":3},\"output_paths\":{\"size\":\"size\"}}"
call create "{\"inputs\":$adopt_in}"
expect "create answered 409 with a read_url that needs no id: adopts the object and updates it" \
  '{"outputs":{"id":"1","outputs":{"size":3},"status":200}}'
if [ "$(server_log "' '.join(r['method'] + ' ' + r['path'] for r in l[-3:])")" = "POST /things GET /things/by-name/a PATCH /things/1" ]; then
  ok "adoption: POST, then GET read_url, then PATCH the id read"
else bad "adoption: POST, then GET read_url, then PATCH the id read" "$(server_log "[r['method'] + ' ' + r['path'] for r in l[-3:]]")"; fi

# --- delete --------------------------------------------------------------------------------------

call delete "$prior"
expect "delete" '{}'
call read "$prior"
expect "read after delete: gone (404)" '{"read":null}'
call delete "$prior"
expect "delete again (404: already gone) succeeds" '{}'
before=$(server_log "len(l)")
call delete "{\"prior\":{\"inputs\":{\"server\":$S,\"create_url\":\"/things\"},\"outputs\":{\"id\":\"3\"}}}"
call read "{\"prior\":{\"inputs\":{\"server\":$S,\"create_url\":\"/things\"},\"outputs\":{\"id\":\"3\",\"outputs\":{},\"status\":201}}}"
if [ "$rc" -eq 0 ] && [ "$out" = "{\"read\":{\"inputs\":{\"create_url\":\"/things\",\"server\":$S},\"outputs\":{\"id\":\"3\",\"outputs\":{},\"status\":201}}}" ] &&
  [ "$(server_log "len(l)")" = "$before" ]; then
  ok "without delete_url / read_url: delete forgets, read gives back the state, nothing sent"
else bad "without delete_url / read_url: delete forgets, read gives back the state, nothing sent" "$out" "$err"; fi

# --- errors --------------------------------------------------------------------------------------

call create "{\"inputs\":{\"server\":$S,\"create_url\":\"/things?api_key=querysecret\",\"create_body\":{\"size\":1,\"password\":\"$password\"}},$secret_marks}"
expect_err "a 422: one line with the method, the URL without its query, the status and the API's message" \
  "^drvcall: http.request create: POST $base/things: 422 name is required\$"
call create "{\"inputs\":{\"server\":$S,\"create_url\":\"/things\",\"create_body\":{\"name\":\"c\"},\"read_url\":\"/things/{id}\"}}"
expect_err "a 409 without an adoptable read_url: the API's message" "POST $base/things: 409 a thing named c exists\$"
wrong="{\"base_url\":\"$base\",\"headers\":{\"authorization\":\"Bearer wrong-$token\"}}"
call create "{\"inputs\":{\"server\":$wrong,\"create_url\":\"/things\",\"create_body\":{\"name\":\"d\"}}}"
expect_err "a 401: the API's message" "POST $base/things: 401 missing or wrong bearer token\$"
call create "{\"inputs\":{\"server\":$wrong,\"create_url\":\"/things\",\"create_body\":{\"name\":\"d\"},\"headers\":{\"Authorization\":\"Bearer $token\"}}}"
expect "the resource's headers override the integration's (names case-insensitive)" '{"outputs":{"id":"5","outputs":{},"status":201}}'
call read "{\"prior\":{\"inputs\":{\"server\":$wrong,\"create_url\":\"/things\",\"read_url\":\"/things/{id}/x\"},\"outputs\":{\"id\":\"a b/c\"}}}"
expect_err "read: a 4xx other than 404/410 fails; {id} percent-encoded in the URL" "GET $base/things/a%20b%2Fc/x: 401 missing or wrong bearer token\$"
call create "{\"inputs\":{\"create_url\":\"/things\"}}"
expect_err "a relative URL without base_url: an error" "create_url '/things' is relative and the http integration has no base_url"
call create "{\"inputs\":{\"server\":$S,\"create_url\":\"/things/{id}\"}}"
expect_err "create_url with {id}: an error" "create_url may not use \{id\}"
call create "{\"inputs\":{\"server\":$S,\"create_url\":\"/things\",\"create_method\":\"PO ST\"}}"
expect_err "a malformed method: an error" "create_method 'PO ST' is not an HTTP method"
call create "{\"inputs\":{\"server\":$S,\"create_url\":\"/things\",\"create_body\":{\"name\":\"e\"},\"read_url\":\"/things/{id}\",\"id_path\":\"data.id\"}}"
expect "no id at id_path: the id from the Location header" '{"outputs":{"id":"6","outputs":{},"status":201}}'
call create "{\"inputs\":{\"server\":$S,\"create_url\":\"/echo\",\"create_body\":{\"data\":{\"id\":7}},\"id_path\":\"data.id\",\"output_paths\":{\"all\":\"\"}}}"
expect "id_path a.b: a number id; an empty path is the whole body" '{"outputs":{"id":"7","outputs":{"all":{"data":{"id":7}}},"status":200}}'
call create "{\"inputs\":{\"server\":$S,\"create_url\":\"/echo\",\"create_body\":{\"name\":\"e\"},\"read_url\":\"/things/{id}\"}}"
expect_err "no id (nor Location) while read_url needs one: an error" "POST $base/echo: 200, but the response holds no id at 'id' \\(nor a Location header\\)"
call create "{\"inputs\":{\"server\":$S,\"create_url\":\"/echo\",\"create_body\":{\"name\":\"e\"}}}"
expect "no id needed (no {id} anywhere): an empty id" '{"outputs":{"id":"","outputs":{},"status":200}}'
call create "{\"inputs\":{\"server\":{\"base_url\":\"$base\",\"headers\":{\"X-Bad\":\"a\\nb\"}},\"create_url\":\"/things\"}}"
expect_err "a header value with a line break: an error that does not print it" "server.headers.X-Bad must be a one-line string\$"

leaks=$(cat "$tmp"/err.* | grep -cF -e "$token" -e "$password" -e querysecret)
if [ "$leaks" -eq 0 ]; then ok "no message holds the token, the password or the query"; else
  bad "no message holds the token, the password or the query" "$(cat "$tmp"/err.* | grep -F -e "$token" -e "$password" -e querysecret)"; fi

stop_server
call read "$prior"
expect_err "a stopped server: the method, the URL and the cause" "GET $base/things/1: .*(refused|connect)"
