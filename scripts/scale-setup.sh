#!/usr/bin/env bash
# Installs what `make scale-test` needs, idempotently, on a fresh Debian machine (run as root):
#   - Redis (the Celery broker) and PostgreSQL 15 (the Dagster instance) from Debian;
#   - Azurite (the Azure Blob emulator) from npm into .scale/node (ignored by git);
#   - a separate venv (.venv-scale) with the project's lock plus the `scale` extra, so the
#     default .venv, which `hunthouse run`/`demo` and `make test` use, stays without these services.
# Each step is skipped when its result is already there; a re-run costs a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${SCALE_VENV:-.venv-scale}
AZURITE_VERSION=3.37.0

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then
    as_root apt-get update -qq
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

pg_bin() {
  # Debian puts the server binaries outside PATH; the newest installed major version wins
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

if ! command -v redis-server >/dev/null; then
  echo "scale-setup: installing redis-server (Debian)"
  apt_install redis-server
fi
if [ -z "$(pg_bin)" ] || [ ! -x "$(pg_bin)/initdb" ]; then
  echo "scale-setup: installing postgresql (Debian)"
  apt_install postgresql
fi
if ! id postgres >/dev/null 2>&1; then
  echo "scale-setup: the postgres user is missing (initdb refuses to run as root)" >&2
  exit 1
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "scale-setup: installing nodejs and npm (Debian)"
  apt_install nodejs npm
fi
if [ ! -x .scale/node/node_modules/.bin/azurite-blob ] \
   || [ "$(node -p "require('./.scale/node/node_modules/azurite/package.json').version" 2>/dev/null)" != "$AZURITE_VERSION" ]; then
  echo "scale-setup: installing azurite $AZURITE_VERSION (npm) into .scale/node"
  mkdir -p .scale/node
  npm install --silent --no-audit --no-fund --prefix .scale/node "azurite@$AZURITE_VERSION" >/dev/null
fi

stamp="$VENV/.installed-scale"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  echo "scale-setup: installing the lock + the scale extra into $VENV"
  test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -c constraints.txt -e '.[dev,scale]'
  "$VENV/bin/python" -m pip check
  touch "$stamp"
fi
echo "scale-setup: ready (redis $(redis-server --version | awk '{print $3}'), postgres $("$(pg_bin)/postgres" --version | awk '{print $3}'), azurite $AZURITE_VERSION, $VENV)"
