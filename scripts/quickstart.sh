#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks for reach (redis-server, npm packages), then starts the service.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${REDIS_URL:-}" ] && ! command -v redis-server >/dev/null 2>&1; then
  echo "quickstart: installing redis-server (the service runs a private one when REDIS_URL is unset)"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server
fi
npm ci --no-audit --no-fund
npm run build
# exec, so SIGTERM and Ctrl-C reach the service itself (it drains probes and stops its redis-server).
exec node dist/cli.js serve
