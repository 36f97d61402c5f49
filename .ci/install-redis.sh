#!/usr/bin/env bash
# Installs redis-server from Debian for the Redis snapshot-store tests
# (test/store/redis*.test.ts spawn it on a free loopback port).
# Idempotent: when redis-server is already on PATH it only prints the version.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
  echo "== redis-server already installed: $(redis-server --version)"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

echo "== installing redis-server (apt)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null
# The Debian package starts a system service on 6379 where an init system runs;
# the tests never use it (they spawn their own server on a free port), so stop
# it when it is there and leave the port free.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
  $SUDO systemctl stop redis-server || true
fi
echo "== $(redis-server --version)"
