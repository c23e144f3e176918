# tests/services/registry.sh - a real docker-registry (Docker distribution v2) on loopback, for the
# suites that resolve registry_image(). Source it from bash, then:
#
#   registry_check             0 if docker-registry is installed; else prints why and returns 1
#                              (a suite fails on that under CI, where .ci/run installs it, and may
#                              skip locally: see registry_required)
#   registry_required          0 when a missing registry must fail the suite (CI, or
#                              IDP_TEST_REQUIRE_SERVICES=1), 1 when it may skip
#   registry_start [USER:PASS] starts one on 127.0.0.1 and a free port, its data and config in a
#                              temp dir (never the packaged /etc config); with USER:PASS it asks
#                              for basic auth (htpasswd -B, apache2-utils). Waits until GET /v2/
#                              answers (200, or 401 with auth). Sets REGISTRY_URL
#                              (http://127.0.0.1:PORT), REGISTRY_HOST (127.0.0.1:PORT),
#                              REGISTRY_PID, REGISTRY_DIR and REGISTRY_LOG (its stderr: one
#                              access-log line per request). Returns 1 with a message if it fails.
#                              REGISTRY_CONFIG_EXTRA, when set, is appended to its config.yml
#                              (top-level YAML, such as a `notifications:` section).
#   registry_push REPO TAG [USER:PASS]
#                              pushes an image with curl only (a config blob, a layer blob, then
#                              the manifest under TAG; content unique to REPO:TAG, so digests
#                              differ) and prints the manifest's digest as the registry returned it
#   registry_tag REPO TAG...   puts the last pushed manifest of REPO under more tags at once
#   registry_requests PATTERN  how many requests the log holds whose line matches PATTERN (grep -E),
#                              once the log has stopped growing (a request is logged after its answer)
#   registry_stop              stops the server by its PID and removes its temp dir
#
# Several servers may run at once: registry_start in a subshell, or save the variables.

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

registry_check() {
  if ! command -v docker-registry >/dev/null 2>&1; then
    echo "docker-registry is not installed (apt-get install -y --no-install-recommends docker-registry)"
    return 1
  fi
  if ! command -v curl >/dev/null 2>&1; then
    echo "curl is not installed (apt-get install -y curl)"
    return 1
  fi
}

registry_required() { svc_required; }


registry_start() {
  local auth=${1:-}
  registry_check >&2 || return 1
  REGISTRY_DIR=$(mktemp -d "${TMPDIR:-/tmp}/idp-registry.XXXXXX")
  REGISTRY_LOG="$REGISTRY_DIR/registry.log"
  local authconf=""
  if [ -n "$auth" ]; then
    if ! command -v htpasswd >/dev/null 2>&1; then
      echo "registry_start: htpasswd is not installed (apt-get install -y apache2-utils)" >&2
      return 1
    fi
    htpasswd -B -b -c "$REGISTRY_DIR/htpasswd" "${auth%%:*}" "${auth#*:}" 2>/dev/null || return 1
    authconf="auth:
  htpasswd:
    realm: idp-test
    path: $REGISTRY_DIR/htpasswd"
  fi
  local try port code
  for try in 1 2 3 4 5; do
    port=$(svc_free_port) || break
    cat >"$REGISTRY_DIR/config.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: idp-test-$RANDOM$RANDOM
  debug:
    addr: ""
$authconf
${REGISTRY_CONFIG_EXTRA:-}
EOF
    docker-registry serve "$REGISTRY_DIR/config.yml" >>"$REGISTRY_LOG" 2>&1 &
    REGISTRY_PID=$!
    REGISTRY_HOST="127.0.0.1:$port"
    REGISTRY_URL="http://$REGISTRY_HOST"
    for _ in $(seq 1 100); do
      if ! kill -0 "$REGISTRY_PID" 2>/dev/null; then break; fi # exited: the port was taken
      code=$(curl -s -o /dev/null -w '%{http_code}' "$REGISTRY_URL/v2/" 2>/dev/null)
      if [ "$code" = 200 ] || { [ -n "$auth" ] && [ "$code" = 401 ]; }; then
        return 0
      fi
      sleep 0.05
    done
    kill "$REGISTRY_PID" 2>/dev/null
    wait "$REGISTRY_PID" 2>/dev/null
  done
  echo "registry_start: docker-registry did not come up; its log:" >&2
  tail -5 "$REGISTRY_LOG" >&2
  return 1
}

registry_stop() {
  if [ -n "${REGISTRY_PID:-}" ]; then
    kill "$REGISTRY_PID" 2>/dev/null
    wait "$REGISTRY_PID" 2>/dev/null
  fi
  [ -n "${REGISTRY_DIR:-}" ] && rm -rf "$REGISTRY_DIR"
  REGISTRY_PID=
  REGISTRY_DIR=
}

# _registry_blob REPO FILE [USER:PASS]: uploads FILE as a blob (POST, then PUT to the Location with
# &digest=); prints its digest.
_registry_blob() {
  local repo=$1 file=$2 auth=() digest loc
  [ -n "${3:-}" ] && auth=(-u "$3")
  digest="sha256:$(sha256sum "$file" | cut -d' ' -f1)"
  loc=$(curl -sS -f "${auth[@]}" -X POST -D - -o /dev/null "$REGISTRY_URL/v2/$repo/blobs/uploads/" |
    tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
  [ -n "$loc" ] || return 1
  case $loc in /*) loc="$REGISTRY_URL$loc" ;; esac
  case $loc in *\?*) loc="$loc&digest=$digest" ;; *) loc="$loc?digest=$digest" ;; esac
  curl -sS -f "${auth[@]}" -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$file" \
    -o /dev/null "$loc" || return 1
  echo "$digest"
}

registry_push() {
  local repo=$1 tag=$2 creds=${3:-} d="$REGISTRY_DIR/push" auth=()
  [ -n "$creds" ] && auth=(-u "$creds")
  mkdir -p "$d"
  printf 'layer of %s:%s %s\n' "$repo" "$tag" "$RANDOM" >"$d/layer"
  local layer cfg lsize csize
  layer=$(_registry_blob "$repo" "$d/layer" "$creds") || return 1
  printf '{"architecture":"amd64","os":"linux","config":{"Labels":{"tag":"%s:%s"}},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
    "$repo" "$tag" "$layer" >"$d/config"
  cfg=$(_registry_blob "$repo" "$d/config" "$creds") || return 1
  lsize=$(wc -c <"$d/layer")
  csize=$(wc -c <"$d/config")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":%d,"digest":"%s"},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":%d,"digest":"%s"}]}' \
    "$csize" "$cfg" "$lsize" "$layer" >"$d/manifest"
  cp "$d/manifest" "$d/manifest.${repo//\//_}"
  curl -sS -f "${auth[@]}" -X PUT -H 'Content-Type: application/vnd.docker.distribution.manifest.v2+json' \
    --data-binary "@$d/manifest" -D - -o /dev/null "$REGISTRY_URL/v2/$repo/manifests/$tag" |
    tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p' | grep . || return 1
}

registry_tag() {
  local repo=$1 m="$REGISTRY_DIR/push/manifest.${1//\//_}" urls=() t
  shift
  for t in "$@"; do urls+=("$REGISTRY_URL/v2/$repo/manifests/$t"); done
  # One curl for all: the data and header apply to every URL, over one connection.
  curl -sS -f -X PUT -H 'Content-Type: application/vnd.docker.distribution.manifest.v2+json' \
    --data-binary "@$m" "${urls[@]}" >/dev/null
}

registry_requests() {
  local a b
  b=$(wc -l <"$REGISTRY_LOG")
  for _ in $(seq 1 20); do
    sleep 0.05
    a=$(wc -l <"$REGISTRY_LOG")
    [ "$a" = "$b" ] && break
    b=$a
  done
  grep -cE "$1" "$REGISTRY_LOG"
}
