#!/usr/bin/env bash
# Installs redis-server and redis-cli (Debian package redis-server) for the
# cluster tests. Idempotent: does nothing when both are already there.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y redis-server
# Tests start their own servers on free ports; the packaged service on 6379 is not needed.
if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true; fi
