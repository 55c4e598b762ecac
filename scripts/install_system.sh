#!/usr/bin/env bash
# Installs the system parts mediatag needs on Debian bookworm, only what is missing:
# PostgreSQL 15 with PL/Python, numpy/scipy/sklearn for the server's Python, ffmpeg, and pgvector
# built from Debian's trixie source package (bookworm has no pgvector 0.8).
# Idempotent: a second run with everything present does no network work.
set -euo pipefail

PGVECTOR_VERSION="${PGVECTOR_VERSION:-0.8}"
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${MEDIATAG_CACHE:-$ROOT/.cache}"

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

APT_PACKAGES=(postgresql-15 postgresql-server-dev-15 postgresql-plpython3-15 python3-numpy python3-scipy
  python3-sklearn ffmpeg dpkg-dev build-essential wordnet-base
  chromium espeak-ng)  # wordnet-base: offline prompt suggestions and the offline model; chromium: the UI's browser
# tests; espeak-ng: known speech for the speech-to-text tests and bench (tests/mediafactory.py, bench/bench_asr.py)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "mediatag: installing apt packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

installed_vector_version() {
  local ctl
  ctl="$($PG_CONFIG --sharedir)/extension/vector.control"
  [ -f "$ctl" ] && sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$ctl" || true
}

case "$(installed_vector_version)" in
  "$PGVECTOR_VERSION"*) ;;
  *)
    # Cache keyed by the pgvector version: the source tree and its build are reused when present.
    build="$CACHE/pgvector-$PGVECTOR_VERSION"
    if [ ! -f "$build/.built" ]; then
      echo "mediatag: building pgvector $PGVECTOR_VERSION from Debian trixie sources"
      apt_dir="$CACHE/apt-trixie"
      mkdir -p "$apt_dir/lists/partial" "$apt_dir/sources.list.d" "$build"
      echo "deb-src http://deb.debian.org/debian trixie main" > "$apt_dir/sources.list"
      # A private sources list and state dir: the system's apt configuration is never touched.
      apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
        -o "Dir::State::Lists=$apt_dir/lists" -o "APT::Sandbox::User=root")
      apt-get "${apt_opts[@]}" update -qq
      rm -rf "$build" && mkdir -p "$build"
      (cd "$build" && apt-get "${apt_opts[@]}" source --download-only pgvector -qq &&
        dpkg-source -x --no-check ./pgvector_*.dsc src >/dev/null)
      src="$build/src"
      ver="$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$src/vector.control")"
      case "$ver" in "$PGVECTOR_VERSION"*) ;; *) echo "pgvector source is $ver, want $PGVECTOR_VERSION" >&2; exit 1;; esac
      make -s -C "$src" PG_CONFIG=$PG_CONFIG OPTFLAGS="" >/dev/null
      touch "$build/.built"
    fi
    $SUDO make -s -C "$build/src" PG_CONFIG=$PG_CONFIG install >/dev/null
    echo "mediatag: pgvector $(installed_vector_version) installed"
    ;;
esac
