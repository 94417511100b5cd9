#!/usr/bin/env bash
# One hot show's ceiling on its Redis master: starts a fresh six-node Redis Cluster, joins
# users to one show straight through the queue store (the batched join script, each call
# acknowledged by the replica) with 1, 16, 256 and 4,096 joins in flight, and prints per
# level joins/s, joins per call and the master's CPU per join, and stops the cluster.
# The one-master ceiling is 1 s over the master's cost per join at full batches (256).
# Then one show through 1, 2 and 3 lanes (its `lanes` setting): joins/s and each master's CPU.
#
# usage: loadtest/bench_hot_master.sh [seconds per level, default 10]
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$ROOT"
dir="$LOCAL/bench-hot-master-cluster"
nodes=$(scripts/redis-cluster.sh start --dir "$dir")
trap 'scripts/redis-cluster.sh stop --dir "$dir" >/dev/null 2>&1' EXIT
cargo build --release --locked --example hot_master 2>&1 | tail -n 1
# The program needs no database; the settings only require the variable to be present.
REDIS_CLUSTER_NODES=$nodes DATABASE_URL=postgres://unused/unused BOXOFFICE_REDIS_PREFIX=bench \
  ./target/release/examples/hot_master "${1:-10}"
