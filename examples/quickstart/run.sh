#!/usr/bin/env bash
# examples/quickstart/run.sh - build idp and check the quickstart spec, on a fresh Debian machine.
#
# Installs what the build needs if it is missing (apt-get; as root, or through sudo): make, gcc,
# flex, bison and the -dev packages of jansson, OpenSSL, libyaml, libcurl and libpq;
# builds ./idp with make from the repository root, then runs `idp validate` and `idp fmt -check`
# on this folder. Exits non-zero if any step fails.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

step() { printf '\n== %s\n' "$*"; }

missing=()
for pkg in make gcc flex bison libjansson-dev libssl-dev libyaml-dev libcurl4-openssl-dev libpq-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  step "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update || exit 1
  $SUDO apt-get install -y "${missing[@]}" || exit 1
else
  step "build dependencies are installed"
fi

step "building ./idp (make idp)"
make idp || exit 1

status=0
step "./idp validate examples/quickstart"
./idp validate examples/quickstart || status=1

step "./idp fmt -check examples/quickstart"
if ./idp fmt -check examples/quickstart; then
  echo "every file is in the canonical layout"
else
  echo "idp fmt -check failed (the files listed above would change, or an error was printed)"
  status=1
fi

if [ "$status" -eq 0 ]; then
  step "done: idp built, the quickstart spec is valid and formatted"
  echo "next: ./idp help, docs/language.md, and the tour in README.md"
else
  step "done, with failures (see above)"
fi
exit "$status"
