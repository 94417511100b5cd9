#!/usr/bin/env bash
# Memory per waiting user: starts a fresh six-node Redis Cluster (so nothing else is in it),
# joins 1,000,000 users to one show straight through the queue store, prints bytes per
# waiter from INFO memory, and stops the cluster.
#
# usage: loadtest/queue_memory.sh [waiters]
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$ROOT"
dir="$LOCAL/bench-memory-cluster"
nodes=$(scripts/redis-cluster.sh start --dir "$dir")
trap 'scripts/redis-cluster.sh stop --dir "$dir" >/dev/null 2>&1' EXIT
cargo build --release --locked --example queue_memory 2>&1 | tail -n 1
# The program needs no database; the settings only require the variable to be present.
REDIS_CLUSTER_NODES=$nodes DATABASE_URL=postgres://unused/unused BOXOFFICE_REDIS_PREFIX=bench \
  ./target/release/examples/queue_memory "${1:-1000000}"
