#!/usr/bin/env bash
# Seat holds under contention, in one go on this machine:
#  1. the hold storm: 10,000 active users ask for the same seat at the same instant; exactly
#     one may win (p99 as the clients saw it and inside the service);
#  2. a paced storm: wrk, 256 connections, every request for one seat someone else holds, so
#     every request must lose (req/s, p50, p99, in the service too);
#  3. distinct seats: wrk, 256 connections, each user holding a seat of their own (holds/s).
# Starts a fresh six-node Redis Cluster and a release build of the service (Postgres comes
# from scripts/stack.sh), and stops them at the end.
#
# usage: loadtest/bench_holds.sh [users, default 10000] [seconds per wrk run, default 10]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
users=${1:-10000}
secs=${2:-10}
conns=256
threads=2
route="/v1/shows/{show_id}/holds"
need_cmd wrk wrk
raise_file_limit

start_service holds --example hold_storm
metrics_snapshot "$work/before-storm.prom"
./target/release/examples/hold_storm "$base" "$admin" "$users" "$work"
echo "  inside the service: $(server_p99 POST "$route" "$work/before-storm.prom")"
read -r show seat <"$work/contended.txt"

# usage: hold_run NAME [contended seat]: a wrk run, then its figures and status counts
hold_run() {
  local name=$1 contended=${2:-}
  metrics_snapshot "$work/before-$name.prom"
  local figures; figures=$(wrk_run "$name" -s loadtest/wrk/hold.lua "$base/v1/shows/$show/holds" -- \
    "$work/tokens.txt" "$show" "$threads" "$work/own_seats.txt" $contended)
  read -r _ rps p50 p99 _ errors <<<"$figures"
  echo "  $rps req/s, p50 $p50 ms, p99 $p99 ms as wrk saw it; socket errors $errors"
  echo "  $(grep '^STATUSES' "$work/$name.wrk")"
  echo "  inside the service: $(server_p99 POST "$route" "$work/before-$name.prom")"
}

echo "paced storm: $conns connections for ${secs} s, every request for seat $seat, which another user holds"
hold_run storm "$seat"
grep -q '^STATUSES 201=0 409=[1-9][0-9]* other=0$' "$work/storm.wrk" \
  && echo "  -> nobody took the held seat; every request was a clean 409" || { echo "  -> WRONG"; exit 1; }
echo "distinct seats: $conns connections for ${secs} s, each user holding a seat of their own"
hold_run own
grep -q '^STATUSES 201=[1-9][0-9]* 409=0 other=0$' "$work/own.wrk" \
  && echo "  -> every request held its seat" || { echo "  -> WRONG"; exit 1; }
