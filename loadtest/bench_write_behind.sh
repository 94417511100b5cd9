#!/usr/bin/env bash
# Sustained write-behind throughput into this machine's Postgres: fills one show's stream
# with 300,000 join events, drains it the way the worker does, prints events/s, the WAL
# Postgres wrote for them and the bytes a join takes on disk.
# (The lag under join load is printed by loadtest/bench_http.sh.)
#
# usage: loadtest/bench_write_behind.sh [events, default 300000]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
start_stack write-behind --example write_behind_drain
./target/release/examples/write_behind_drain "${1:-300000}"
