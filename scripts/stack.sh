#!/usr/bin/env bash
# The local stack boxoffice runs and tests against: a private PostgreSQL (unless DATABASE_URL
# is set) and a six-node Redis Cluster. `up` writes .local/stack.env, which the run and test
# scripts source: the stack's addresses and this checkout's own JWT secret (made once, kept
# in .local/jwt_secret, readable by its owner only), so that nobody else on the machine can
# mint admin tokens for the local service with the public development default.
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
  local secret_file="$LOCAL/jwt_secret"
  if [ ! -s "$secret_file" ]; then
    (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$secret_file")
  fi
  (umask 077 && cat >"$env_file" <<ENV
export DATABASE_URL='$db'
export REDIS_CLUSTER_NODES='$nodes'
export BOXOFFICE_JWT_SECRET='$(cat "$secret_file")'
ENV
  )
  chmod 600 "$env_file"
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
