#!/usr/bin/env bash
# Installs what the project needs on a fresh machine: pnpm (pinned), the
# workspace's dependencies from the lockfile, Debian's chromium for the
# demo's real-browser test, Debian's redis-server for @scrollback/redis's
# tests, and less and procps (top) for @scrollback/terminal's PTY tests.
# Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=10.34.9
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  npm install -g "pnpm@$PNPM_VERSION"
fi

pnpm install --frozen-lockfile

sudo=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then sudo="sudo"; fi
missing=""
[ -x /usr/bin/chromium ] || missing="$missing chromium"
# The tests start their own redis-server processes (a free port, a temporary
# directory each); the package's system service is never what they use.
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
# The terminal package's tests run less and top in a pseudo-terminal.
command -v less >/dev/null 2>&1 || missing="$missing less"
command -v top >/dev/null 2>&1 || missing="$missing procps"
if [ -n "$missing" ]; then
  $sudo apt-get update
  # policy-rc.d keeps the package's init script from starting a system-wide
  # redis-server on port 6379 during the install (where an init system runs).
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy"
  fi
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y $missing || status=$?
  if [ -n "$policy" ]; then $sudo rm -f "$policy"; fi
  [ "${status:-0}" -eq 0 ] || exit "$status"
fi
/usr/bin/chromium --version 2>/dev/null | head -1 || true
redis-server --version 2>/dev/null | head -1 || true
