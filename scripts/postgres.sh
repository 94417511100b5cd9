#!/usr/bin/env bash
# Starts or stops a private PostgreSQL for development and tests: initdb into a project-local
# ignored folder, its own port (default 55432), trust auth on loopback only.
# When DATABASE_URL is set, nothing is started: `start` only waits for that server.
#
# usage: scripts/postgres.sh start|stop|status [--port N] [--dir DIR]
#   --port N   without it: the server this checkout already runs, else the first free port
#              of 55432-55441
# `start` prints a DATABASE_URL for the `boxoffice` database on stdout.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cmd=${1:-}; shift || true
port=${BOXOFFICE_PG_PORT:-}
dir=""
while [ $# -gt 0 ]; do
  case $1 in
    --port) port=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    *) die "unknown option $1" ;;
  esac
done

# Where this checkout's servers live: .local/, unless PostgreSQL (run as the `postgres`
# user when we are root) cannot reach it, e.g. in a clone under /root; then a folder of
# this checkout's own under /var/tmp.
pg_home() {
  if [ "$(id -u)" -ne 0 ] || { mkdir -p "$LOCAL" && runuser -u postgres -- test -x "$LOCAL"; }; then
    echo "$LOCAL"
  else
    echo "/var/tmp/boxoffice-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)"
  fi
}

# The port of a server this checkout already runs, else the first free one.
pick_port() {
  if [ -z "$dir" ]; then
    for d in "$(pg_home)"/postgres-*; do
      [ -f "$d/data/postmaster.pid" ] && kill -0 "$(head -n 1 "$d/data/postmaster.pid")" 2>/dev/null \
        && { echo "${d##*-}"; return; }
    done
  fi
  for p in $(seq 55432 55441); do port_in_use "$p" || { echo "$p"; return; }; done
  die "no free port in 55432-55441; pass --port"
}

port=${port:-$(pick_port)}
dir=${dir:-$(pg_home)/postgres-$port}
data="$dir/data"

# PostgreSQL refuses to run as root; run its tools as the `postgres` user then.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

bin() { echo "/usr/lib/postgresql/$(pg_major)/bin/$1"; }

url() { echo "postgres://postgres@127.0.0.1:$port/boxoffice"; }

running() { [ -f "$data/postmaster.pid" ] && as_pg "$(bin pg_ctl)" -D "$data" status >/dev/null 2>&1; }

start_external() {
  need_cmd psql postgresql-client
  wait_until 30 "the server at DATABASE_URL" psql "$DATABASE_URL" -c 'select 1'
  echo "$DATABASE_URL"
}

start() {
  [ -n "${DATABASE_URL:-}" ] && { start_external; return; }
  need_cmd psql postgresql-client
  [ -x "$(bin initdb)" ] || need_cmd initdb postgresql
  [ -x "$(bin initdb)" ] || die "initdb not found under /usr/lib/postgresql"
  if ! running; then
    port_in_use "$port" && die "port $port is taken by another process; choose --port"
    mkdir -p "$dir/run"
    [ "$(id -u)" -eq 0 ] && chown -R postgres: "$dir"
    if [ ! -f "$data/PG_VERSION" ]; then
      as_pg "$(bin initdb)" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || die "initdb failed; see $dir/initdb.log"
    fi
    as_pg "$(bin pg_ctl)" -D "$data" -l "$dir/postgres.log" -w -t 30 \
      -o "-p $port -k $dir/run -c listen_addresses=127.0.0.1 -c max_connections=400 -c shared_buffers=256MB" \
      start >/dev/null || die "postgres did not start; see $dir/postgres.log"
  fi
  wait_until 30 "postgres on $port" psql "postgres://postgres@127.0.0.1:$port/postgres" -c 'select 1'
  psql -q "postgres://postgres@127.0.0.1:$port/postgres" -tc "select 1 from pg_database where datname='boxoffice'" | grep -q 1 \
    || psql -q "postgres://postgres@127.0.0.1:$port/postgres" -c 'create database boxoffice' >/dev/null
  log "PostgreSQL up on port $port (data in $data)"
  url
}

stop() {
  [ -n "${DATABASE_URL:-}" ] && { log "DATABASE_URL is set: not stopping an outside server"; return; }
  if running; then as_pg "$(bin pg_ctl)" -D "$data" -m fast -w stop >/dev/null; fi
  log "PostgreSQL on port $port stopped"
}

case $cmd in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "up on $port"; else echo "down"; fi ;;
  url) url ;;
  *) die "usage: $0 start|stop|status|url [--port N] [--dir DIR]" ;;
esac
