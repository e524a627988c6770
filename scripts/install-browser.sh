#!/usr/bin/env bash
# Installs Debian's Chromium and ChromeDriver for the browser tests (tests/browser.rs) when
# they are missing. Idempotent: does nothing when both are already on the machine. No browser
# is ever downloaded at test time; the tests only use /usr/bin/chromium and chromedriver.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if have chromium && have chromedriver; then
  exit 0
fi

if ! have apt-get; then
  echo "install-browser: chromium and chromedriver are missing and apt-get is not available;" >&2
  echo "install Chromium and a matching ChromeDriver by other means." >&2
  exit 1
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  sudo=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-browser: installing chromium and chromium-driver (Debian packages)"
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null
chromium --version
chromedriver --version
