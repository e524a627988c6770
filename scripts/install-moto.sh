#!/usr/bin/env bash
# Installs moto's server (the AWS API emulator used by tests/secrets.rs and by
# scripts/check-terraform.sh) into .venv/moto, pinned, once. Idempotent: does
# nothing when the pinned version is already there. Installs python3-venv from
# Debian when the venv module is missing. Prints the moto_server path.
set -euo pipefail

MOTO_VERSION="5.2.5"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv/moto"

installed() {
  [ -x "$VENV/bin/moto_server" ] &&
    [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null)" = "$MOTO_VERSION" ]
}

if ! installed; then
  if [ ! -x "$VENV/bin/python" ]; then
    if ! python3 -m venv "$VENV" 2>/dev/null; then
      rm -rf "$VENV"
      sudo=""
      [ "$(id -u)" -eq 0 ] || sudo="sudo"
      $sudo apt-get update -q >/dev/null
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends python3-venv >/dev/null
      python3 -m venv "$VENV"
    fi
  fi
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2
  installed || { echo "install-moto: moto[server]==$MOTO_VERSION did not install" >&2; exit 1; }
fi
echo "$VENV/bin/moto_server"
