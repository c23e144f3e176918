#!/usr/bin/env bash
# tests/drivers/gitops.sh BUILD_DIR - gitops.deployment's API code through BUILD_DIR/drvcall, in a
# temp dir: the Deployment + Service rendered into dir/path, secret env keys only in a Secret in
# secrets_dir/path (mode 0600) read through secretKeyRef (decision 8), no secret value anywhere
# in the synced dir, the files accepted by kubectl (typed decoding, offline: `kubectl set image
# --local`, since `kubectl create -f --dry-run=client` needs an API server for discovery), read
# parsing them back, hand edits as drift, create adopting files already there (decision 11),
# update dropping a Secret no longer needed, delete, and the input errors. Needs python3; the
# kubectl checks skip without kubectl. Prints TAP-style lines.
set -u

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh" gitops "$@" || exit 0
if ! command -v python3 >/dev/null 2>&1; then
  bad "setup" "python3 is not installed (it reads drvcall's JSON answers)"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1

secret_value='postgres://shop:Hunter2-s3cret@db:5432/shop'
image='127.0.0.1:5000/acme/shop@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'
T="{\"dir\":\"$tmp/rendered\",\"secrets_dir\":\"$tmp/secrets\"}"
file=$tmp/rendered/dev/shop.yaml
sfile=$tmp/secrets/dev/shop.yaml

# inputs [ENV] [PORT-JSON]: the deployment's inputs
inputs() {
  local env=${1-"{\"DATABASE_URL\":\"$secret_value\",\"FLAG\":\"yes\",\"LOG_LEVEL\":\"debug\",\"PORT\":\"8080\"}"}
  printf '{"env":%s,"image":"%s","labels":{"team":"shop"},"name":"shop","namespace":"dev","path":"dev/shop.yaml",%s"replicas":2,"target":%s}' \
    "$env" "$image" "${2-"\"port\":8080,"}" "$T"
}
marks='"secret":{"inputs":{"env":{"DATABASE_URL":true}},"prior":{"inputs":{"env":{"DATABASE_URL":true}}}}'

# call OP REQUEST: runs drvcall; leaves $out, $err and $rc.
call() {
  printf '%s' "$2" | timeout 30 "$drvcall" gitops.deployment "$1" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  out=$(cat "$tmp/out")
  err=$(cat "$tmp/err")
}
# holds NAME PYTHON-EXPR: the last call succeeded and EXPR holds of its answer o (parsed JSON)
holds() {
  if [ "$rc" -ne 0 ]; then
    bad "$1" "exit $rc" "$err"
    return
  fi
  if OUT="$out" python3 -c "import json,os,sys; o=json.loads(os.environ['OUT']); sys.exit(0 if ($2) else 1)"; then ok "$1"; else
    bad "$1" "does not hold: $2" "got: $out"; fi
}
expect() { if [ "$rc" -eq 0 ] && [ "$out" = "$2" ]; then ok "$1"; else bad "$1" "exit $rc" "want: $2" "got:  $out" "$err"; fi; }
# expect_err NAME PATTERN: the last call failed with one stderr line matching PATTERN, and
# without the secret value
expect_err() {
  if [ "$rc" -eq 1 ] && [ "$(wc -l <<<"$err")" -eq 1 ] && grep -qE -- "$2" <<<"$err" && ! grep -qF "$secret_value" <<<"$err"; then
    ok "$1"
  else bad "$1" "want exit 1 and one line matching: $2" "exit $rc" "$err"; fi
}
mode() { stat -c %a "$1"; }
# kube_decode FILE: kubectl decodes every object of FILE into its typed form (strict field
# types), offline; prints the Deployment as JSON, its image set to kubectl.check/image (set image
# prints only what it changed). Non-pod objects make set image complain after decoding: fine.
kube_decode() {
  KUBECONFIG=/dev/null kubectl set image --local --dry-run=client -o json -f "$1" "*=kubectl.check/image" 2>"$tmp/kerr"
  local rc=$?
  if [ "$rc" -ne 0 ] && grep -v 'the object is not a pod or does not have a pod template' "$tmp/kerr" | grep -q .; then
    cat "$tmp/kerr" >&2
    return 1
  fi
  return 0
}

# --- create ----------------------------------------------------------------------------------------

call create "{\"inputs\":$(inputs),$marks}"
holds "create: file, secret_file and the file's sha256" \
  "o == {'outputs': {'file': '$file', 'secret_file': '$sfile', 'sha256': '$(sha256sum "$file" 2>/dev/null | cut -d' ' -f1)'}}"
create_out=$out
if [ "$(mode "$file")" = 644 ] && [ "$(mode "$sfile")" = 600 ] && [ "$(mode "$tmp/secrets")" = 700 ]; then
  ok "modes: the rendered file 0644, the Secret 0600 in a 0700 secrets_dir"
else bad "modes: the rendered file 0644, the Secret 0600 in a 0700 secrets_dir" "$(ls -lR "$tmp/rendered" "$tmp/secrets")"; fi
if ! grep -rqF "Hunter2-s3cret" "$tmp/rendered"; then ok "no secret value anywhere in the synced dir"; else
  bad "no secret value anywhere in the synced dir" "$(grep -rF "Hunter2-s3cret" "$tmp/rendered")"; fi
if grep -qF "DATABASE_URL: $secret_value" "$sfile" && grep -q '^kind: Secret$' "$sfile"; then ok "the secret value is in the Secret in secrets_dir"; else
  bad "the secret value is in the Secret in secrets_dir" "$(cat "$sfile")"; fi
if [ -z "$(find "$tmp/rendered" "$tmp/secrets" -name '*.tmp-*')" ]; then ok "no temp file left behind"; else
  bad "no temp file left behind" "$(find "$tmp" -name '*.tmp-*')"; fi

if command -v kubectl >/dev/null 2>&1; then
  if dep=$(kube_decode "$file" 2>"$tmp/kerr2"); then
    ok "kubectl decodes the Deployment and the Service"
    if DEP="$dep" python3 - <<'EOF'; then ok "kubectl's Deployment: secretKeyRef, plain values as strings, replicas, port, labels"; else bad "kubectl's Deployment: secretKeyRef, plain values as strings, replicas, port, labels" "$dep"; fi
import json, os, sys
d = json.loads(os.environ["DEP"])
c = d["spec"]["template"]["spec"]["containers"][0]
env = {e["name"]: e for e in c["env"]}
sys.exit(0 if d["kind"] == "Deployment" and d["metadata"] == {"name": "shop", "namespace": "dev", "creationTimestamp": None,
    "labels": {"app.kubernetes.io/managed-by": "idp", "app.kubernetes.io/name": "shop", "team": "shop"}}
    and d["spec"]["replicas"] == 2 and d["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": "shop"}}
    and c["ports"] == [{"containerPort": 8080}]
    and env["DATABASE_URL"] == {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "shop-env", "key": "DATABASE_URL"}}}
    and env["FLAG"] == {"name": "FLAG", "value": "yes"} and env["PORT"] == {"name": "PORT", "value": "8080"}
    else 1)
EOF
  else
    bad "kubectl decodes the Deployment and the Service" "$(cat "$tmp/kerr2")" "$(cat "$file")"
  fi
  if kube_decode "$sfile" >/dev/null 2>"$tmp/kerr2"; then ok "kubectl decodes the Secret"; else bad "kubectl decodes the Secret" "$(cat "$tmp/kerr2")"; fi
  sed 's/replicas: 2/replicas: "2"/' "$file" >"$tmp/bad.yaml"
  if ! kube_decode "$tmp/bad.yaml" >/dev/null 2>&1; then ok "the kubectl check does fail on a mistyped field"; else
    bad "the kubectl check does fail on a mistyped field"; fi
else
  echo "ok - gitops: kubectl validates the rendered files # SKIP kubectl is not installed"
fi
if grep -q '^kind: Service$' "$file" && grep -q 'targetPort: 8080' "$file"; then ok "port set: a Service too"; else bad "port set: a Service too" "$(cat "$file")"; fi

sum1=$(sha256sum "$file" | cut -d' ' -f1)
call create "{\"inputs\":$(inputs),$marks}"
expect "create again over the same files adopts them: same outputs (decision 11)" "$create_out"

# --- read and drift --------------------------------------------------------------------------------

prior="{\"prior\":{\"inputs\":$(inputs),\"outputs\":$(python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["outputs"]))' <<<"$create_out")},$marks}"
call read "$prior"
holds "read right after create: the inputs and outputs it was given" \
  "o['read'] == {'inputs': json.loads('''$(inputs)'''), 'outputs': json.loads('''$create_out''')['outputs']}"

sed -i 's/replicas: 2/replicas: 5/; s/value: debug/value: info/' "$file"
call read "$prior"
holds "hand edit of replicas and an env value: read shows them (drift)" \
  "o['read']['inputs']['replicas'] == 5 and o['read']['inputs']['env']['LOG_LEVEL'] == 'info' and o['read']['outputs']['sha256'] == '$(sha256sum "$file" | cut -d' ' -f1)' != '$sum1'"

sed -i "s|DATABASE_URL: .*|DATABASE_URL: changed-by-hand|" "$sfile"
call read "$prior"
holds "hand edit of the secret value: read shows it" "o['read']['inputs']['env']['DATABASE_URL'] == 'changed-by-hand'"
rm "$sfile"
call read "$prior"
holds "Secret file removed: the secret key reads as gone" "'DATABASE_URL' not in o['read']['inputs']['env'] and o['read']['inputs']['env']['FLAG'] == 'yes'"

call update "$(printf '%s,"inputs":%s}' "${prior%\}}" "$(inputs)")"
expect "update writes the desired files back" "$create_out"
call read "$prior"
holds "read after update: no drift left" "o['read'] == {'inputs': json.loads('''$(inputs)'''), 'outputs': json.loads('''$create_out''')['outputs']}"

sed -i 's/^  namespace: dev$/  namespace: dev\n  annotations:\n    who: me/' "$file"
call read "$prior"
expect "an edit idp cannot express as inputs (an annotation): read says gone, so apply writes it again" '{"read":null}'
printf 'not: [valid' >"$file"
call read "$prior"
expect "a file that no longer parses: read says gone" '{"read":null}'
rm "$file"
call read "$prior"
expect "file removed: read says gone" '{"read":null}'

# --- update --------------------------------------------------------------------------------------

call create "{\"inputs\":$(inputs),$marks}"
call update "{\"prior\":{\"inputs\":$(inputs),\"outputs\":{}},\"inputs\":$(inputs '{"LOG_LEVEL":"info"}' ''),$marks}"
holds "update to no secret and no port: secret_file empty" "o['outputs']['secret_file'] == '' and o['outputs']['file'] == '$file'"
if [ ! -e "$sfile" ]; then ok "update to no secret removes the Secret file"; else bad "update to no secret removes the Secret file" "$(ls -l "$sfile")"; fi
if ! grep -q '^kind: Service$' "$file"; then ok "update without port: no Service"; else bad "update without port: no Service" "$(cat "$file")"; fi
call read "{\"prior\":{\"inputs\":$(inputs '{"LOG_LEVEL":"info"}' ''),\"outputs\":{}}}"
holds "read without port: no port input" "'port' not in o['read']['inputs'] and o['read']['inputs']['env'] == {'LOG_LEVEL': 'info'}"

# --- errors --------------------------------------------------------------------------------------

nosec="{\"dir\":\"$tmp/rendered\"}"
call create "{\"inputs\":$(inputs | sed "s|\"target\":$T|\"target\":$nosec|"),$marks}"
expect_err "a secret env without secrets_dir: an error naming the key, never the value" \
  "env holds secret values \(DATABASE_URL\) and the gitops integration has no secrets_dir: they may not go into dir"
inside="{\"dir\":\"$tmp/rendered\",\"secrets_dir\":\"$tmp/rendered/secrets\"}"
call create "{\"inputs\":$(inputs | sed "s|\"target\":$T|\"target\":$inside|"),$marks}"
expect_err "secrets_dir inside dir: an error" "secrets_dir $tmp/rendered/secrets is inside dir $tmp/rendered"
if ! grep -rqF "Hunter2-s3cret" "$tmp/rendered"; then ok "after the refusals, still no secret value in the synced dir"; else
  bad "after the refusals, still no secret value in the synced dir" "$(grep -rlF "Hunter2-s3cret" "$tmp/rendered")"; fi
call create "{\"inputs\":$(inputs | sed 's|"path":"dev/shop.yaml"|"path":"../escape.yaml"|')}"
expect_err "path with ..: an error" "path '../escape.yaml' may not leave the integration's dir"
call create "{\"inputs\":$(inputs | sed 's|"path":"dev/shop.yaml"|"path":"/etc/x.yaml"|')}"
expect_err "absolute path: an error" "path '/etc/x.yaml' must be relative"
call create "{\"inputs\":$(inputs | sed 's|@sha256:0123|@sha256:zz23|')}"
expect_err "a malformed digest: an error" "image '.*' is not an image reference"
call create "{\"inputs\":$(inputs | sed 's|"labels":{"team":"shop"}|"labels":{"app.kubernetes.io/name":"x"}|')}"
expect_err "labels setting the selector label: an error" "labels may not set app.kubernetes.io/name"
call create "{\"inputs\":$(inputs | sed 's|"replicas":2|"replicas":-1|')}"
expect_err "negative replicas: an error" "replicas must be a whole number from 0"
mkdir -p "$tmp/ro/dev" && chmod 0555 "$tmp/ro/dev"
if [ "$(id -u)" -ne 0 ]; then
  call create "{\"inputs\":$(inputs '{}' | sed "s|\"target\":$T|\"target\":{\"dir\":\"$tmp/ro\"}|")}"
  expect_err "an unwritable dir: the path and the cause" "write $tmp/ro/dev/shop.yaml: Permission denied"
fi

# --- delete --------------------------------------------------------------------------------------

call create "{\"inputs\":$(inputs),$marks}"
call delete "$prior"
if [ "$rc" -eq 0 ] && [ ! -e "$file" ] && [ ! -e "$sfile" ]; then ok "delete removes the file and the Secret file"; else
  bad "delete removes the file and the Secret file" "exit $rc $err" "$(ls -lR "$tmp/rendered" "$tmp/secrets")"; fi
call delete "$prior"
expect "delete again (already gone) succeeds" '{}'
call read "$prior"
expect "read after delete: gone" '{"read":null}'
call create "{\"inputs\":$(inputs | sed 's|"name":"shop"|"name":"shop2"|'),\"secret\":{\"inputs\":{\"env\":{\"DATABASE_URL\":true}}}}"
call delete "$prior"
if [ "$rc" -eq 0 ] && [ -e "$file" ] && [ -e "$sfile" ]; then ok "delete leaves a file that now holds another object (a replacement that kept the path)"; else
  bad "delete leaves a file that now holds another object (a replacement that kept the path)" "exit $rc $err"; fi
