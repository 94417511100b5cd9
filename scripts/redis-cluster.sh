#!/usr/bin/env bash
# Starts or stops a local Redis Cluster of six redis-server processes (3 masters + 3 replicas)
# on loopback. The default ports 7301-7306 stay clear of a Redis on 6379 and of the usual
# cluster ports 7000-7005.
#
# usage: scripts/redis-cluster.sh start|stop|status|nodes|restart-node PORT [--base-port N] [--dir DIR] [--tls]
#   --base-port N  first port; the nodes use N..N+5. Without it: the cluster this checkout
#                  already runs, else the first free range of 7301, 7311, ..., 7391.
#   --dir DIR      where node data, logs and pid files go (default .local/redis-cluster-N)
#   --tls          as a managed cluster runs (ElastiCache, MemoryDB): TLS only (clients,
#                  replication and the cluster bus), the `default` user off and an ACL user
#                  `boxoffice`; the CA certificate is DIR/tls/ca.crt and the user's password
#                  is in DIR/tls/password (both made here with openssl).
# `start` prints the seed list (127.0.0.1:N,...) on stdout once the cluster is ok and every
# replica reports its master link up. `restart-node PORT` starts one node that died (a fault
# test killed it) with its cluster config, so it rejoins as the replica of whoever took over.
#
# The nodes run with the settings a production cluster needs (see README, "Redis in
# production"): noeviction, no persistence here (the fault tests restart nodes empty).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cmd=${1:-}; shift || true
node_port=""
if [ "$cmd" = restart-node ]; then node_port=${1:-}; shift || true; fi
base=${BOXOFFICE_REDIS_BASE_PORT:-}
dir=""
tls=0
while [ $# -gt 0 ]; do
  case $1 in
    --base-port) base=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --tls) tls=1; shift ;;
    *) die "unknown option $1" ;;
  esac
done

# A node is ours when the pid file in its folder names a live process.
alive() { [ -f "$1/$2/redis.pid" ] && kill -0 "$(cat "$1/$2/redis.pid")" 2>/dev/null; }

range_free() {
  for p in $(seq "$1" $(($1 + 5))); do port_in_use "$p" && return 1; done
  return 0
}

# The base port of a cluster this checkout already runs, else of the first free range.
pick_base() {
  if [ -n "$dir" ] && [ -d "$dir" ]; then
    local known; known=$(find "$dir" -mindepth 1 -maxdepth 1 -type d -regex '.*/[0-9]+' -printf '%f\n' | sort -n | head -n 1)
    [ -n "$known" ] && { echo "$known"; return; }
  fi
  if [ -z "$dir" ]; then
    for d in "$LOCAL"/redis-cluster-*; do
      [ -d "$d" ] || continue
      local b=${d##*-} up=1
      for p in $(seq "$b" $((b + 5))); do alive "$d" "$p" || up=0; done
      [ $up -eq 1 ] && { echo "$b"; return; }
    done
  fi
  for b in $(seq 7301 10 7391); do range_free "$b" && { echo "$b"; return; }; done
  die "no free range of six ports in 7301-7396; pass --base-port"
}

base=${base:-$(pick_base)}
dir=${dir:-$LOCAL/redis-cluster-$base}
ports=$(seq "$base" $((base + 5)))

seeds() { local s=""; for p in $ports; do s="$s${s:+,}127.0.0.1:$p"; done; echo "$s"; }
# A cluster started with --tls keeps its certificates in $dir/tls.
[ -d "$dir/tls" ] && tls=1
tls_dir=$dir/tls
cli_access() {
  [ "$tls" = 1 ] || return 0
  echo "--tls --cacert $tls_dir/ca.crt --user boxoffice --pass $(cat "$tls_dir/password") --no-auth-warning"
}
# shellcheck disable=SC2046
cli() { redis-cli -h 127.0.0.1 -p "$1" $(cli_access) "${@:2}"; }

# A CA and one certificate for every node (127.0.0.1 and localhost), and the ACL user's password.
make_tls() {
  need_cmd openssl openssl
  mkdir -p "$tls_dir"
  (
    cd "$tls_dir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=boxoffice-test-ca -keyout ca.key -out ca.crt
    openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout node.key -out node.csr
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >node.ext
    openssl x509 -req -in node.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile node.ext -out node.crt
    openssl rand -hex 16 >password
  ) >"$dir/tls.log" 2>&1 || die "making the TLS certificates failed; see $dir/tls.log"
}

# The redis-server options of a TLS node (port $1): no plain port, the ACL user.
tls_options() {
  local password; password=$(cat "$tls_dir/password")
  echo "--port 0 --tls-port $1 --tls-cluster yes --tls-replication yes --tls-auth-clients no"
  echo "--tls-cert-file $tls_dir/node.crt --tls-key-file $tls_dir/node.key --tls-ca-cert-file $tls_dir/ca.crt"
  echo "--masteruser boxoffice --masterauth $password"
}

ours() { alive "$dir" "$1"; }

# start_node PORT [keep]: without keep, the node starts with a fresh cluster config.
start_node() {
  local port=$1 nd="$dir/$1"
  if ours "$port"; then return 0; fi
  port_in_use "$port" && die "port $port is taken by another process; choose --base-port"
  mkdir -p "$nd"
  [ "${2:-}" = keep ] || rm -f "$nd/nodes.conf"
  rm -f "$nd/redis.pid"
  local listen=(--port "$port")
  if [ "$tls" = 1 ]; then
    # shellcheck disable=SC2207
    listen=($(tls_options "$port") --user default off --user boxoffice on ">$(cat "$tls_dir/password")" '~*' '&*' '+@all')
  fi
  redis-server "${listen[@]}" --bind 127.0.0.1 --daemonize yes \
    --cluster-enabled yes --cluster-config-file "$nd/nodes.conf" --cluster-node-timeout 2000 \
    --maxmemory-policy noeviction --enable-debug-command local \
    --save "" --appendonly no --dir "$nd" --logfile "$nd/redis.log" --pidfile "$nd/redis.pid" \
    >/dev/null
}

restart_node() {
  [ -n "$node_port" ] || die "usage: $0 restart-node PORT"
  [ -f "$dir/$node_port/nodes.conf" ] || die "no node of this cluster on port $node_port"
  start_node "$node_port" keep
  wait_until 10 "redis-server on $node_port" cli "$node_port" ping
  log "node $node_port restarted"
}

cluster_ok() {
  for p in $ports; do
    cli "$p" cluster info | grep -q 'cluster_state:ok' || return 1
  done
}

replicas_linked() {
  local replicas=0
  for p in $ports; do
    local info; info=$(cli "$p" info replication)
    if grep -q 'role:slave' <<<"$info"; then
      grep -q 'master_link_status:up' <<<"$info" || return 1
      replicas=$((replicas + 1))
    fi
  done
  [ "$replicas" -eq 3 ]
}

start() {
  need_cmd redis-server redis-server
  need_cmd redis-cli redis-tools
  local fresh=0
  for p in $ports; do ours "$p" || fresh=1; done
  if [ $fresh -eq 1 ]; then
    stop >/dev/null 2>&1 || true
    [ "$tls" = 1 ] && { mkdir -p "$dir"; make_tls; }
    for p in $ports; do start_node "$p"; done
    for p in $ports; do wait_until 10 "redis-server on $p" cli "$p" ping; done
    local addrs=""; for p in $ports; do addrs="$addrs 127.0.0.1:$p"; done
    # shellcheck disable=SC2086,SC2046
    redis-cli $(cli_access) --cluster create $addrs --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1 \
      || die "cluster create failed; see $dir/create.log"
  fi
  wait_until 60 "cluster_state:ok on every node" cluster_ok
  wait_until 60 "every replica's master link" replicas_linked
  log "Redis Cluster up on ports $base-$((base + 5)) (data in $dir)"
  seeds
}

stop() {
  for p in $ports; do
    local pidfile="$dir/$p/redis.pid"
    if [ -f "$pidfile" ]; then
      local pid; pid=$(cat "$pidfile")
      kill -CONT "$pid" 2>/dev/null || true
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$pidfile"
    fi
  done
  rm -rf "$dir"
  log "Redis Cluster on ports $base-$((base + 5)) stopped"
}

status() {
  for p in $ports; do
    if ours "$p"; then echo "$p: $(cli "$p" info replication | grep role: | tr -d '\r')"; else echo "$p: down"; fi
  done
}

case $cmd in
  start) start ;;
  stop) stop ;;
  status) status ;;
  nodes) seeds ;;
  restart-node) restart_node ;;
  *) die "usage: $0 start|stop|status|nodes|restart-node PORT [--base-port N] [--dir DIR] [--tls]" ;;
esac
