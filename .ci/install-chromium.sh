#!/usr/bin/env bash
# Installs Chromium from Debian for the browser tests (test/dashboard/*.test.ts,
# test/edge/openapi-ui.test.ts): playwright-core drives /usr/bin/chromium, so no
# browser is downloaded from anywhere but the distribution's mirror.
# Idempotent: when /usr/bin/chromium is there it only prints the version.
# Under CI=true a missing Chromium fails those tests; locally they skip loudly.
set -euo pipefail

CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  echo "== chromium already installed: $("$CHROMIUM" --version 2>/dev/null | head -n 1)"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

echo "== installing chromium (apt)"
export DEBIAN_FRONTEND=noninteractive
# Another apt run may hold the lock (an unattended upgrade on a fresh machine): wait for it.
$SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "== $("$CHROMIUM" --version 2>/dev/null | head -n 1)"
