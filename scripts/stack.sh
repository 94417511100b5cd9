#!/usr/bin/env bash
# The local stack boxoffice runs and tests against: a private PostgreSQL (unless DATABASE_URL
# is set) and a six-node Redis Cluster. `up` writes .local/stack.env, which the run and test
# scripts source.
#
# usage: scripts/stack.sh up|down|status
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

here="$(dirname "${BASH_SOURCE[0]}")"
env_file="$LOCAL/stack.env"

up() {
  mkdir -p "$LOCAL"
  local db nodes
  db=$("$here/postgres.sh" start)
  nodes=$("$here/redis-cluster.sh" start)
  cat >"$env_file" <<ENV
export DATABASE_URL='$db'
export REDIS_CLUSTER_NODES='$nodes'
ENV
  log "stack is up; environment in $env_file"
}

down() {
  "$here/redis-cluster.sh" stop || true
  "$here/postgres.sh" stop || true
  rm -f "$env_file"
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) "$here/postgres.sh" status; "$here/redis-cluster.sh" status ;;
  *) die "usage: $0 up|down|status" ;;
esac
