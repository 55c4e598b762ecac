#!/bin/sh
# mediatag's PostgreSQL container (docker/Dockerfile.postgres): on the first start, initialise $PGDATA with the
# superuser's password from MEDIATAG_PG_PASSWORD (peer authentication on the socket, scram-sha-256 passwords over
# TCP, never trust), create the `mediatag` database with the extension; then run the server in the foreground.
# tests/test_docker.py runs this script against the checkout's own PostgreSQL copy.
set -eu
: "${PGDATA:?PGDATA: the data directory}"
BIN="${MEDIATAG_PG_BIN:-/usr/lib/postgresql/15/bin}"
PORT="${PGPORT:-5432}"
SOCKET_DIR="${MEDIATAG_PG_SOCKET_DIR:-/var/run/postgresql}"
DB="${MEDIATAG_PG_DATABASE:-mediatag}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${MEDIATAG_PG_PASSWORD:?MEDIATAG_PG_PASSWORD: the postgres superuser's password (used on the first start)}"
  pwfile="$(mktemp)"
  printf '%s\n' "$MEDIATAG_PG_PASSWORD" > "$pwfile"
  "$BIN/initdb" -D "$PGDATA" -U postgres --pwfile="$pwfile" --auth-local=peer --auth-host=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  # The containers' network reaches the server; every TCP login gives a password.
  cat > "$PGDATA/pg_hba.conf" <<HBA
local all all peer
host all all 0.0.0.0/0 scram-sha-256
host all all ::/0 scram-sha-256
HBA
  cat >> "$PGDATA/postgresql.conf" <<CONF
# mediatag container
listen_addresses = '*'
port = $PORT
unix_socket_directories = '$SOCKET_DIR'
shared_preload_libraries = 'pg_prewarm'
CONF
  # First start on the socket only, to create the database and the extension before anyone can connect.
  "$BIN/pg_ctl" -D "$PGDATA" -w -o "-c listen_addresses=''" start >/dev/null
  "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCKET_DIR" -p "$PORT" -U postgres -d postgres -c "CREATE DATABASE \"$DB\""
  "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCKET_DIR" -p "$PORT" -U postgres -d "$DB" \
    -c "CREATE EXTENSION IF NOT EXISTS mediatag CASCADE"
  "$BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
  echo "mediatag: initialised $PGDATA with database $DB and the mediatag extension"
fi
exec "$BIN/postgres" -D "$PGDATA"
