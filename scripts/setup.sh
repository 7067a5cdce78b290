#!/usr/bin/env bash
# Installs what the project needs on a fresh machine: pnpm (pinned), the
# workspace's dependencies from the lockfile, Debian's chromium for the
# demo's real-browser test, and less and procps (top) for the terminal
# package's PTY tests. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=10.34.9
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  npm install -g "pnpm@$PNPM_VERSION"
fi

pnpm install --frozen-lockfile

# Debian packages: chromium for the demo's real-browser test; less and top (procps) for the terminal
# package's tests, which run them in a pseudo-terminal.
missing=""
[ -x /usr/bin/chromium ] || missing="$missing chromium"
command -v less >/dev/null 2>&1 || missing="$missing less"
command -v top >/dev/null 2>&1 || missing="$missing procps"
if [ -n "$missing" ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then sudo="sudo"; fi
  $sudo apt-get update
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y $missing
fi
/usr/bin/chromium --version 2>/dev/null | head -1 || true
