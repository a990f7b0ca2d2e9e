#!/usr/bin/env bash
# Run a command with DATABASE_URL pointing at PostgreSQL.
# If DATABASE_URL is set, use it. Otherwise start a throwaway cluster (initdb + pg_ctl on a
# free loopback port, data under target/pg-*), run the command, and remove the cluster after.
set -euo pipefail

if [ -n "${DATABASE_URL:-}" ]; then
  exec "$@"
fi

find_bin() {
  if command -v "$1" >/dev/null 2>&1; then command -v "$1"; return; fi
  local c
  for c in /usr/lib/postgresql/*/bin/"$1" /usr/local/pgsql/bin/"$1" /opt/homebrew/bin/"$1"; do
    [ -x "$c" ] && { echo "$c"; return; }
  done
  echo "error: $1 not found; install the PostgreSQL server binaries or set DATABASE_URL" >&2
  exit 1
}
INITDB=$(find_bin initdb)
PG_CTL=$(find_bin pg_ctl)

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null \
    || echo $((20000 + RANDOM % 20000))
}
PORT=$(free_port)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR="$ROOT/target/pg-$PORT"
mkdir -p "$DIR"

# initdb refuses to run as root: run the cluster as an unprivileged user then.
RUN=()
if [ "$(id -u)" = 0 ]; then
  user=postgres; id "$user" >/dev/null 2>&1 || user=nobody
  chown "$user" "$DIR"
  RUN=(runuser -u "$user" --)
fi

cleanup() {
  "${RUN[@]}" "$PG_CTL" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

"${RUN[@]}" "$INITDB" -D "$DIR/data" -U postgres --auth=trust --no-sync -E UTF8 >"$DIR/initdb.log" 2>&1 \
  || { cat "$DIR/initdb.log" >&2; exit 1; }
# Test clusters trade durability for speed (PG_FAST=1); benchmarks keep the defaults.
# PG_OPTS adds server options (e.g. PG_OPTS='-c max_wal_size=16GB').
EXTRA=""
if [ "${PG_FAST:-0}" = 1 ]; then EXTRA="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"; fi
"${RUN[@]}" "$PG_CTL" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
  -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=256MB $EXTRA ${PG_OPTS:-}" start >/dev/null \
  || { cat "$DIR/server.log" >&2; exit 1; }

export DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/postgres"
echo "throwaway PostgreSQL on 127.0.0.1:$PORT" >&2
"$@"
