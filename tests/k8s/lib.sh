# tests/k8s/lib.sh - what the k8s test scripts share; source it with the script's name and arguments:
# `. "$(dirname "$0")/lib.sh" NAME "$@" || exit 0`. It checks the one argument (BUILD_DIR; exit 2
# on bad usage), sets build, fakeapi (BUILD_DIR/fakeapi), drvcall (BUILD_DIR/drvcall), here and
# LC_ALL=C, defines ok NAME and bad NAME DETAIL... (TAP lines prefixed "NAME: ") and the fake's
# start and stop below, and returns 1 after a `not ok` when fakeapi is not built.
#
#   k8s_fake_start DIR [FAKEAPI OPTIONS...]
#     makes a test CA, a server certificate (127.0.0.1, localhost) and a client certificate signed
#     by it in DIR with the openssl CLI, starts BUILD_DIR/fakeapi over HTTPS on 127.0.0.1 and a free
#     port (client certificates trusted, tokens below, `-rollout-ms 200` unless given, requests logged)
#     and exports:
#       K8S_SERVER          https://127.0.0.1:PORT          K8S_PORT    PORT
#       K8S_TOKEN           a valid bearer token            K8S_EXPIRED_TOKEN  a token answered 401
#       K8S_CA              DIR/ca.crt (the CA of the server and the client certificates)
#       K8S_CLIENT_CERT     DIR/client.crt  K8S_CLIENT_KEY  DIR/client.key
#       K8S_KUBECONFIG      DIR/kubeconfig: context "fake" (token), context "fake-cert" (client
#                           certificate), context "fake-expired" (the expired token); current: fake
#       K8S_LOG             DIR/requests.log: one line per request (method, path, fieldManager,
#                           force, Content-Type, how it authenticated, status)
#       K8S_FAKE_PID        the fake's PID
#     The caller's EXIT trap should call k8s_fake_stop.
#   k8s_fake_stop
#     stops the fake by its PID; `bad`s a line when it exits non-zero or wrote a sanitizer report.
# shellcheck shell=bash
# the argument check, build, drvcall, here, LC_ALL and ok/bad are the driver tests' (drivers/lib.sh)
# shellcheck source=../drivers/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../drivers/lib.sh" "$@" || return 1
fakeapi="$build/fakeapi"

k8s_fake_start() { # k8s_fake_start DIR [OPTIONS...]
  local dir=$1
  shift
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  (
    cd "$dir" &&
      openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.crt -days 2 -subj /CN=idp-fake-ca &&
      openssl req "${ec[@]}" -keyout server.key -out server.csr -subj /CN=idp-fakeapi &&
      printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext &&
      openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile server.ext &&
      openssl req "${ec[@]}" -keyout client.key -out client.csr -subj "/O=system:masters/CN=idp-test" &&
      printf 'extendedKeyUsage=clientAuth\n' >client.ext &&
      openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2 -extfile client.ext
  ) >"$dir/openssl.log" 2>&1 || { bad "setup" "openssl failed:" "$(cat "$dir/openssl.log")"; return 1; }
  K8S_TOKEN="idp-test-token-$RANDOM$RANDOM"
  K8S_EXPIRED_TOKEN="idp-expired-token-$RANDOM$RANDOM"
  local rollout=(-rollout-ms 200)
  case " $* " in *" -rollout-ms "*) rollout=() ;; esac
  "$fakeapi" "$dir/port" -cert "$dir/server.crt" -key "$dir/server.key" -client-ca "$dir/ca.crt" \
    -token "$K8S_TOKEN" -expired-token "$K8S_EXPIRED_TOKEN" -log "$dir/requests.log" "${rollout[@]}" "$@" \
    2>"$dir/fakeapi.err" &
  K8S_FAKE_PID=$!
  K8S_FAKE_ERR="$dir/fakeapi.err"
  local i
  for i in $(seq 100); do
    [ -s "$dir/port" ] && break
    kill -0 "$K8S_FAKE_PID" 2>/dev/null || break
    sleep 0.05
  done
  if [ ! -s "$dir/port" ]; then
    bad "setup" "fakeapi did not start:" "$(cat "$dir/fakeapi.err")"
    return 1
  fi
  K8S_PORT=$(cat "$dir/port")
  K8S_SERVER="https://127.0.0.1:$K8S_PORT"
  K8S_CA="$dir/ca.crt"
  K8S_CLIENT_CERT="$dir/client.crt"
  K8S_CLIENT_KEY="$dir/client.key"
  K8S_LOG="$dir/requests.log"
  K8S_KUBECONFIG="$dir/kubeconfig"
  cat >"$K8S_KUBECONFIG" <<KC
apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: $K8S_SERVER
    certificate-authority: $K8S_CA
users:
- name: token
  user:
    token: $K8S_TOKEN
- name: cert
  user:
    client-certificate: $K8S_CLIENT_CERT
    client-key: $K8S_CLIENT_KEY
- name: expired
  user:
    token: $K8S_EXPIRED_TOKEN
contexts:
- name: fake
  context: {cluster: fake, user: token}
- name: fake-cert
  context: {cluster: fake, user: cert}
- name: fake-expired
  context: {cluster: fake, user: expired}
current-context: fake
KC
  export K8S_SERVER K8S_PORT K8S_TOKEN K8S_EXPIRED_TOKEN K8S_CA K8S_CLIENT_CERT K8S_CLIENT_KEY K8S_LOG \
    K8S_KUBECONFIG K8S_FAKE_PID
}

k8s_fake_stop() {
  [ -n "${K8S_FAKE_PID:-}" ] || return 0
  kill "$K8S_FAKE_PID" 2>/dev/null
  wait "$K8S_FAKE_PID" 2>/dev/null
  local rc=$?
  # libmicrohttpd logs refused TLS handshakes there too: only a sanitizer report is a failure
  if [ "$rc" -ne 0 ] || grep -qE 'Sanitizer|runtime error' "$K8S_FAKE_ERR"; then
    bad "fakeapi exits cleanly" "exit status $rc" "$(head -40 "$K8S_FAKE_ERR")"
  fi
  K8S_FAKE_PID=
}

if [ ! -x "$fakeapi" ]; then
  bad "setup" "$fakeapi is not an executable (make test builds it)"
  return 1
fi
