#!/usr/bin/env bash
# Creates .venv with the project installed editable. The third-party packages live in a shared cache venv
# keyed by the hash of requirements.lock (and the Python version): a fresh clone whose lock matches reuses it
# in seconds; a changed lock builds a new one. The project venv reaches the cache through a .pth file.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3
pyver="$("$PY" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
key="$( (cat requirements.lock; echo "$pyver") | sha256sum | cut -c1-16)"
CACHE_ROOT="${MEDIATAG_CACHE_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/mediatag}"
deps="$CACHE_ROOT/venv-$key"

if [ ! -f "$deps/.complete" ]; then
  echo "mediatag: building dependency venv $deps (from requirements.lock)"
  rm -rf "$deps"
  "$PY" -m venv "$deps"
  "$deps/bin/pip" install -q --disable-pip-version-check -r requirements.lock
  touch "$deps/.complete"
fi

site_pkgs() { "$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }
if [ ! -f .venv/.deps-key ] || [ "$(cat .venv/.deps-key)" != "$key" ] || [ ! -x .venv/bin/python ]; then
  rm -rf .venv
  "$PY" -m venv .venv
  echo "import site; site.addsitedir('$(site_pkgs "$deps")')" > "$(site_pkgs .venv)/mediatag-deps.pth"
  .venv/bin/pip install -q --disable-pip-version-check --no-deps -e .
  echo "$key" > .venv/.deps-key
fi
