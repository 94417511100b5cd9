#!/usr/bin/env bash
# Hold storm: 10,000 active users request the same seat at once (exactly one may win; the
# p99 each client saw is printed), then holds/s on distinct seats. Starts a fresh cluster
# and a release build of the service, and stops them at the end.
#
# usage: loadtest/bench_holds.sh [users, default 10000]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ulimit -n 65536 2>/dev/null || true
start_service holds --example hold_storm
./target/release/examples/hold_storm "$base" "$admin" "${1:-10000}"
server_p99 POST "/v1/shows/{show_id}/holds"
