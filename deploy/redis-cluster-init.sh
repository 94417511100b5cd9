#!/bin/sh
# One-shot Redis Cluster bootstrap, run by the redis-cluster-init service of
# docker-compose.yml (in the redis:7 image, so POSIX sh, redis-cli, getent and awk).
#
# Forms a cluster with one replica per master from the nodes in REDIS_NODES
# ("host:port host:port ...", spaces or commas) unless they already form one, then waits
# until every node reports cluster_state:ok and every replica's link to its master is up.
# Safe to re-run: nodes that already know each other or serve slots are never re-created.
set -eu

nodes=$(printf '%s' "${REDIS_NODES:?set REDIS_NODES to host:port of every node}" | tr ',' ' ')
wait_s=${REDIS_CLUSTER_WAIT_S:-60}

log() { echo "redis-cluster-init: $*"; }
cli() { node=$1; shift; redis-cli -h "${node%:*}" -p "${node##*:}" "$@"; }
# info_field NODE FIELD: one field of CLUSTER INFO; empty when the node does not answer.
info_field() { cli "$1" cluster info 2>/dev/null | tr -d '\r' | sed -n "s/^$2://p"; }

all_answer() {
    for n in $nodes; do [ "$(cli "$n" ping 2>/dev/null)" = PONG ] || return 1; done
}
all_ok() {
    for n in $nodes; do [ "$(info_field "$n" cluster_state)" = ok ] || return 1; done
}
replicas_linked() {
    count=0 linked=0
    for n in $nodes; do
        count=$((count + 1))
        repl=$(cli "$n" info replication 2>/dev/null | tr -d '\r')
        case $repl in
            *role:slave*)
                case $repl in *master_link_status:up*) linked=$((linked + 1)) ;; *) return 1 ;; esac ;;
        esac
    done
    [ "$linked" -ge $((count / 2)) ]
}
# wait_for WHAT CHECK: poll CHECK once a second for up to wait_s seconds.
wait_for() {
    what=$1 check=$2 waited=0
    until "$check"; do
        waited=$((waited + 1))
        if [ "$waited" -ge "$wait_s" ]; then
            log "gave up after ${wait_s}s waiting for $what" >&2
            return 1
        fi
        sleep 1
    done
}

wait_for "every node to answer PING" all_answer

if all_ok; then
    log "cluster already formed (cluster_state:ok on every node); nothing to do"
    exit 0
fi

# Fresh nodes know only themselves and serve no slots. Anything else means a cluster
# already exists (perhaps still converging after a restart): wait for it, never re-create.
fresh=yes
for n in $nodes; do
    known=$(info_field "$n" cluster_known_nodes)
    slots=$(info_field "$n" cluster_slots_assigned)
    if [ "$known" != 1 ] || [ "$slots" != 0 ]; then fresh=no; fi
done

if [ "$fresh" = yes ]; then
    # CLUSTER MEET takes IP addresses, so resolve the names first.
    addrs=""
    for n in $nodes; do
        host=${n%:*} port=${n##*:}
        ip=$(getent ahostsv4 "$host" | awk 'NR == 1 { print $1 }')
        if [ -z "$ip" ]; then log "cannot resolve $host" >&2; exit 1; fi
        addrs="$addrs $ip:$port"
    done
    log "creating the cluster from:$addrs"
    # shellcheck disable=SC2086 # one argument per node
    redis-cli --cluster create $addrs --cluster-replicas 1 --cluster-yes
else
    log "the nodes already belong to a cluster; waiting for it instead of re-creating it"
fi

if ! wait_for "cluster_state:ok on every node" all_ok; then
    log "the nodes do not form a healthy cluster. To start from scratch, remove the nodes" >&2
    log "and their volumes (docker compose down -v, which also drops Postgres data) and up again." >&2
    exit 1
fi
wait_for "every replica's link to its master" replicas_linked
log "cluster ready"
