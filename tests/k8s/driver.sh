#!/usr/bin/env bash
# tests/k8s/driver.sh BUILD_DIR - the kubernetes driver's API code through BUILD_DIR/drvcall against
# the fake API server (tests/k8s/fakeapi.c: HTTPS, a CA made here with openssl): kubeconfig parsing
# (token, CA data, client certificate data, context selection), server-side apply create, re-apply
# (no new generation), update (replicas, image), a conflict with another field manager and
# force_conflicts, drift via read, the rollout failure marker and timeout, an expired token (no
# token in the message), secrets (never in messages), a manifest through discovery, delete (twice).
# Then a run against a real cluster when IDP_TEST_KUBECONFIG is set. Prints TAP-style lines.
set -u
. "$(dirname "$0")/../drivers/lib.sh" k8s "$@" || exit 0

real_cluster() {
  if [ -z "${IDP_TEST_KUBECONFIG:-}" ]; then
    echo "ok - k8s real cluster # SKIP IDP_TEST_KUBECONFIG not set"
    return
  fi
  local ns=idp-test-$RANDOM
  local c="\"cluster\":{\"kubeconfig\":\"$IDP_TEST_KUBECONFIG\"}"
  local r="{\"inputs\":{$c,\"name\":\"$ns\",\"labels\":{},\"annotations\":{}}}"
  if printf '%s' "$r" | timeout 60 "$drvcall" kubernetes.namespace create >/dev/null 2>"$tmp/real.err" &&
    printf '{"inputs":{%s,"namespace":"%s","name":"cm","data":{"a":"1"}}}' "$c" "$ns" | timeout 60 "$drvcall" kubernetes.config_map create >/dev/null 2>>"$tmp/real.err" &&
    printf '{"prior":{"inputs":{%s,"name":"%s"}}}' "$c" "$ns" | timeout 120 "$drvcall" kubernetes.namespace delete >/dev/null 2>>"$tmp/real.err"; then
    ok "real cluster: namespace and config map applied and deleted"
  else
    bad "real cluster" "$(cat "$tmp/real.err")"
  fi
}

tmp=$(mktemp -d)
fake_pid=
trap '[ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT

fake="$build/fakeapi"
if [ ! -x "$fake" ]; then
  fake="$tmp/fakeapi"
  if ! cc -std=c11 -D_GNU_SOURCE -O1 -o "$fake" "$here/fakeapi.c" -ljansson -lmicrohttpd -lgnutls -pthread 2>"$tmp/cc.err"; then
    echo "ok - k8s: fake API server tests # SKIP tests/k8s/fakeapi.c does not build yet: $(head -1 "$tmp/cc.err")"
    real_cluster
    exit 0
  fi
fi
if ! command -v openssl >/dev/null || ! command -v curl >/dev/null; then
  echo "ok - k8s: fake API server tests # SKIP openssl and curl are needed"
  real_cluster
  exit 0
fi

# A CA, the server's certificate (127.0.0.1) and a client certificate, all signed by the CA.
(
  cd "$tmp" || exit 1
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=fake-ca
  openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >srv.ext
  openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt -days 2 -extfile srv.ext
  openssl req -newkey rsa:2048 -nodes -keyout cli.key -out cli.csr -subj "/CN=idp-user/O=system:masters"
  openssl x509 -req -in cli.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out cli.crt -days 2
) >"$tmp/openssl.log" 2>&1 || { bad "setup: openssl" "$(tail -5 "$tmp/openssl.log")"; exit 0; }

token=tok-$RANDOM-$RANDOM-secret
old=old-$RANDOM-$RANDOM-secret
"$fake" "$tmp/port" -cert "$tmp/srv.crt" -key "$tmp/srv.key" -client-ca "$tmp/ca.crt" -token "$token" -token other-tok \
  -expired-token "$old" -rollout-ms 300 -log "$tmp/fake.log" 2>"$tmp/fake.err" &
fake_pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
if [ ! -s "$tmp/port" ]; then
  bad "setup: the fake API server did not start" "$(cat "$tmp/fake.err")"
  exit 0
fi
server=https://127.0.0.1:$(cat "$tmp/port")
b64() { base64 -w0 <"$1"; }

# A kubeconfig with two contexts: "tok" (current; token, CA data) and "cert" (client cert data).
cat >"$tmp/kubeconfig" <<KC
apiVersion: v1
kind: Config
current-context: tok
clusters:
- name: fake
  cluster:
    server: $server
    certificate-authority-data: $(b64 "$tmp/ca.crt")
- name: fake-file
  cluster:
    server: $server
    certificate-authority: ca.crt
contexts:
- name: tok
  context: {cluster: fake, user: tok-user}
- name: cert
  context: {cluster: fake-file, user: cert-user}
- name: expired
  context: {cluster: fake, user: old-user}
users:
- name: tok-user
  user:
    token: $token
- name: cert-user
  user:
    client-certificate-data: $(b64 "$tmp/cli.crt")
    client-key-data: $(b64 "$tmp/cli.key")
- name: old-user
  user:
    token: $old
KC

n=0
# call KIND OP REQUEST: leaves $out, $err, $rc
call() {
  n=$((n + 1))
  printf '%s' "$3" | timeout 60 "$drvcall" "kubernetes.$1" "$2" >"$tmp/out.$n" 2>"$tmp/err.$n"
  rc=$?
  out=$(cat "$tmp/out.$n")
  err=$(cat "$tmp/err.$n")
}
# holds NAME PYTHON-EXPR: the last call succeeded and EXPR holds of its JSON answer o
holds() {
  if [ "$rc" -eq 0 ] && python3 -c "import json,sys; o=json.loads(sys.argv[1]); sys.exit(0 if ($2) else 1)" "$out" 2>/dev/null; then
    ok "$1"
  else
    bad "$1" "exit $rc" "out: $out" "err: $err"
  fi
}
# fails NAME GREP-PATTERN...: the last call failed and its message matches every pattern
fails() {
  local name=$1
  shift
  if [ "$rc" -eq 0 ]; then bad "$name" "succeeded: $out"; return; fi
  for p in "$@"; do
    if ! grep -qE -- "$p" <<<"$err"; then bad "$name" "message lacks /$p/" "$err"; return; fi
  done
  if grep -qF -e "$token" -e "$old" -e hunter2 <<<"$err"; then bad "$name" "a secret in the message" "$err"; return; fi
  ok "$name"
}

KC="\"cluster\":{\"kubeconfig\":\"$tmp/kubeconfig\"}"
KCC="\"cluster\":{\"kubeconfig\":\"$tmp/kubeconfig\",\"context\":\"cert\"}"
dep() { # dep EXTRA: a deployment's inputs
  printf '{"inputs":{%s,"namespace":"shop","name":"web","image":"%s","replicas":%s,"port":8080,"env":{"MODE":"prod","DB_PASSWORD":"hunter2"},"labels":{"team":"a"},"annotations":{},"wait":true,"timeout":%s%s},"secret":{"inputs":{"env":{"DB_PASSWORD":true}}}}' \
    "$KC" "${IMG:-ghcr.io/acme/web:1}" "${REP:-2}" "${TMO:-20}" "${1:+,$1}"
}
prior_of() { python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(json.dumps({"prior":{"inputs":r["inputs"],"outputs":{}},"secret":{"prior":r.get("secret",{}).get("inputs",{})and{"inputs":r["secret"]["inputs"]}}}))' "$1"; }

# kubeconfig: token + CA data, the current context
call namespace create "{\"inputs\":{$KC,\"name\":\"shop\",\"labels\":{\"env\":\"prod\"},\"annotations\":{}}}"
holds "namespace create (kubeconfig: token, CA data, current-context)" 'o["outputs"]["uid"] and o["outputs"]["resource_version"]'
grep -q 'PATCH /api/v1/namespaces/shop.*fieldManager=idp.*apply-patch+yaml' "$tmp/fake.log" &&
  ok "namespace create is a server-side apply" || bad "namespace create is a server-side apply" "$(tail -3 "$tmp/fake.log")"
# kubeconfig: client certificate data, CA file relative to the kubeconfig, context selection
call config_map create "{\"inputs\":{$KCC,\"namespace\":\"shop\",\"name\":\"cfg\",\"data\":{\"a\":\"1\"},\"labels\":{},\"annotations\":{}}}"
holds "config map create (kubeconfig context cert: client certificate data, CA file)" 'o["outputs"]["uid"]'
call config_map create "{\"inputs\":{\"cluster\":{\"kubeconfig\":\"$tmp/kubeconfig\",\"context\":\"nope\"},\"namespace\":\"shop\",\"name\":\"cfg\",\"data\":{}}}"
fails "unknown context names the kubeconfig and context" "kubeconfig $tmp/kubeconfig" "context nope"
# explicit server, token, ca_file
call config_map read "{\"prior\":{\"inputs\":{\"cluster\":{\"server\":\"$server\",\"token\":\"$token\",\"ca_file\":\"$tmp/ca.crt\"},\"namespace\":\"shop\",\"name\":\"cfg\",\"data\":{\"a\":\"1\"}}}}"
holds "read with explicit server, token and ca_file" 'o["read"]["inputs"]["data"]=={"a":"1"}'
# expired token
call namespace read "{\"prior\":{\"inputs\":{\"cluster\":{\"kubeconfig\":\"$tmp/kubeconfig\",\"context\":\"expired\"},\"name\":\"shop\"}}}"
fails "expired token: 401, the context named, no token" "401" "context expired"
# no CA: the server's certificate is refused
call namespace read "{\"prior\":{\"inputs\":{\"cluster\":{\"server\":\"$server\",\"token\":\"$token\"},\"name\":\"shop\"}}}"
fails "an unknown CA is refused" "."

# deployment: create, re-apply, update
req=$(dep)
call deployment create "$req"
holds "deployment create waits for the rollout" 'o["outputs"]["generation"]==1'
curl -s --cacert "$tmp/ca.crt" -H "Authorization: Bearer $token" "$server/apis/apps/v1/namespaces/shop/deployments/web" >"$tmp/d.json"
python3 - "$tmp/d.json" <<'PY' && ok "deployment: secret env through secretKeyRef, selector label" || bad "deployment: secret env through secretKeyRef, selector label" "$(cat "$tmp/d.json")"
import json,sys
d=json.load(open(sys.argv[1])); c=d["spec"]["template"]["spec"]["containers"][0]
env={e["name"]:e for e in c["env"]}
assert env["DB_PASSWORD"]["valueFrom"]["secretKeyRef"]=={"name":"web-env","key":"DB_PASSWORD"}
assert env["MODE"]["value"]=="prod" and "hunter2" not in json.dumps(d)
assert d["spec"]["selector"]["matchLabels"]=={"app.kubernetes.io/name":"web"}
PY
s=$(curl -s --cacert "$tmp/ca.crt" -H "Authorization: Bearer $token" "$server/api/v1/namespaces/shop/secrets/web-env")
[ "$(python3 -c 'import json,sys,base64; print(base64.b64decode(json.loads(sys.argv[1])["data"]["DB_PASSWORD"]).decode())' "$s")" = hunter2 ] &&
  ok "secret env keys in the Secret web-env" || bad "secret env keys in the Secret web-env" "$s"
call deployment update "$(dep)"
holds "re-apply is a no-op (same generation)" 'o["outputs"]["generation"]==1'
REP=3 IMG=ghcr.io/acme/web:2 call deployment update "$(REP=3 IMG=ghcr.io/acme/web:2 dep)"
holds "update replicas and image (new generation, rolled out)" 'o["outputs"]["generation"]==2'
call deployment read "$(prior_of "$(REP=3 IMG=ghcr.io/acme/web:2 dep)")"
holds "read: no drift" 'o["read"]["inputs"]["image"]=="ghcr.io/acme/web:2" and o["read"]["inputs"]["replicas"]==3 and o["read"]["inputs"]["env"]["DB_PASSWORD"]=="hunter2" and o["read"]["inputs"]["labels"]=={"team":"a"}'

# another manager takes replicas: drift, a conflict, force
curl -s -o /dev/null --cacert "$tmp/ca.crt" -H "Authorization: Bearer other-tok" -X PATCH -H 'Content-Type: application/apply-patch+yaml' \
  --data '{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"shop"},"spec":{"replicas":5}}' \
  "$server/apis/apps/v1/namespaces/shop/deployments/web?fieldManager=kubectl&force=true"
call deployment read "$(prior_of "$(REP=3 IMG=ghcr.io/acme/web:2 dep)")"
holds "drift via read: replicas changed by another manager" 'o["read"]["inputs"]["replicas"]==5'
call deployment update "$(REP=4 IMG=ghcr.io/acme/web:2 dep)"
fails "conflict with another manager: its name and the hint" "409" "kubectl" "force_conflicts"
call deployment update "$(REP=4 IMG=ghcr.io/acme/web:2 dep '"force_conflicts":true')"
holds "force_conflicts takes the field over" 'o["outputs"]["generation"]>=3'

# rollout failure marker, and a timeout
call deployment update "$(REP=2 IMG=ghcr.io/acme/fail-rollout:1 TMO=30 dep)"
fails "rollout failure: the deployment and the condition" "shop/web" "ProgressDeadlineExceeded|rollout"
call deployment create "$(REP=1 IMG=ghcr.io/acme/web:3 TMO=0 dep)"
fails "rollout timeout names the deployment" "shop/web" "not complete"

# secret: data base64, read back, never in messages
call secret create "{\"inputs\":{$KC,\"namespace\":\"shop\",\"name\":\"creds\",\"data\":{\"pw\":\"hunter2\"},\"type\":\"Opaque\",\"labels\":{},\"annotations\":{}},\"secret\":{\"inputs\":{\"data\":true}}}"
holds "secret create" 'o["outputs"]["uid"] and "hunter2" not in json.dumps(o)'
call secret read "{\"prior\":{\"inputs\":{$KC,\"namespace\":\"shop\",\"name\":\"creds\",\"data\":{\"pw\":\"hunter2\"},\"type\":\"Opaque\"}},\"secret\":{\"prior\":{\"inputs\":{\"data\":true}}}}"
holds "secret read decodes the data" 'o["read"]["inputs"]["data"]=={"pw":"hunter2"}'

# service and ingress
call service create "{\"inputs\":{$KC,\"namespace\":\"shop\",\"name\":\"web\",\"port\":80,\"target_port\":8080,\"type\":\"ClusterIP\",\"labels\":{},\"annotations\":{}}}"
holds "service create: cluster_ip" 'o["outputs"]["cluster_ip"]!=""'
call ingress create "{\"inputs\":{$KC,\"namespace\":\"shop\",\"name\":\"web\",\"host\":\"web.example.test\",\"path\":\"/\",\"service\":\"web\",\"service_port\":80,\"labels\":{},\"annotations\":{}}}"
holds "ingress create" 'o["outputs"]["uid"]'

# manifest through discovery
M="{\"inputs\":{$KC,\"manifest\":\"apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: raw\\n  namespace: shop\\ndata:\\n  k: v\\n\"}}"
call manifest create "$M"
holds "manifest create (discovery)" 'o["outputs"]["uid"]'
grep -q 'GET /api/v1 ' "$tmp/fake.log" && ok "manifest: discovery GET /api/v1" || bad "manifest: discovery GET /api/v1" "$(grep GET "$tmp/fake.log" | tail -3)"
call manifest read "$(prior_of "$M")"
holds "manifest read: no drift" 'isinstance(o["read"]["inputs"]["manifest"], str)'
call manifest create "{\"inputs\":{$KC,\"manifest\":{\"apiVersion\":\"v1\",\"kind\":\"Gizmo\",\"metadata\":{\"name\":\"g\"}}}}"
fails "manifest: unknown kind" "Gizmo"

# delete, twice; read after delete is null
call deployment delete "$(prior_of "$(dep)")"
holds "deployment delete" 'o=={}'
call deployment delete "$(prior_of "$(dep)")"
holds "delete again: already gone is success" 'o=={}'
call deployment read "$(prior_of "$(dep)")"
holds "read after delete: null" 'o["read"] is None'
grep -q '^DELETE /apis/apps/v1/namespaces/shop/deployments/web' "$tmp/fake.log" && ok "delete sends DELETE" || bad "delete sends DELETE" "$(grep DELETE "$tmp/fake.log")"

real_cluster
