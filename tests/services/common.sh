# tests/services/common.sh - what the service helpers (registry.sh, powerdns.sh, postgres.sh)
# share; they source it. Source it from bash:
#
#   svc_required      0 when a missing service must fail the suite (CI set, as .ci/run does, or
#                     IDP_TEST_REQUIRE_SERVICES=1), 1 when it may skip
#   svc_install PKG...
#                     installs Debian packages (apt-get, as root or through sudo -n), with
#                     /usr/sbin/policy-rc.d (exit 101) in place so no package starts its service
#                     with the packaged config; prints why and returns 1 when it cannot
#   svc_free_port [udp]
#                     prints a port nothing listens on (with udp: free for UDP too, as DNS needs):
#                     the kernel's pick for 127.0.0.1:0 when python3 is there, else a random one
#                     that refuses a connection (callers retry a start if it was taken meanwhile)
# shellcheck shell=bash

svc_required() {
  [ -n "${CI:-}" ] || [ "${IDP_TEST_REQUIRE_SERVICES:-}" = 1 ]
}

svc_install() {
  local sudo=
  if [ "$(id -u)" -ne 0 ]; then
    if ! sudo -n true 2>/dev/null; then
      echo "missing packages: $* (apt-get install -y --no-install-recommends $*, as root)"
      return 1
    fi
    sudo="sudo -n"
  fi
  echo "# installing $* (apt-get)" >&2
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null && $sudo chmod 0755 /usr/sbin/policy-rc.d
  fi
  if ! { DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" ||
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@"; }; } >/dev/null 2>&1; then
    echo "missing packages: $* (apt-get install failed)"
    return 1
  fi
}

svc_free_port() {
  local udp=${1:-}
  if command -v python3 >/dev/null 2>&1; then
    python3 -c '
import socket, sys
while True:
    t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    if len(sys.argv) < 2:
        print(p); break
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
' $udp && return
  fi
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  return 1
}
