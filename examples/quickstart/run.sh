#!/usr/bin/env bash
# examples/quickstart/run.sh - build idp and check the quickstart spec, on a fresh Debian machine.
#
# Installs flex, bison, gcc and make if they are missing (apt-get; as root, or through sudo),
# builds ./idp with make from the repository root, then runs `idp validate` and `idp fmt -check`
# on this folder. Exits non-zero if any step fails.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

step() { printf '\n== %s\n' "$*"; }

missing=()
for tool in flex bison gcc make; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  step "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update || exit 1
  $SUDO apt-get install -y "${missing[@]}" || exit 1
else
  step "flex, bison, gcc and make are installed"
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
