#!/usr/bin/env bash
# What "acknowledged means replicated" costs, in one run on one cluster: the join run of
# bench_http.sh and the distinct-seat hold run of bench_holds.sh, each with WAIT on
# (BOXOFFICE_REDIS_WAIT_REPLICAS=1: every batched join and hold waits for a replica) and
# off (0), alternating on, off, on, off so that the machine's drift hits both alike.
# Prints req/s, p50 and p99 of every pass and the ratio of the means (on / off).
# Starts a fresh six-node Redis Cluster and release builds of the service (Postgres comes
# from scripts/stack.sh), and stops them at the end.
#
# usage: loadtest/bench_wait.sh [seconds per wrk run, default 10] [connections, default 256]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
secs=${1:-10}
conns=${2:-256}
threads=2
need_cmd wrk wrk
raise_file_limit

start_stack wait --example mint_tokens --example hold_storm
results="$work/results.txt"
: >"$results"

# usage: pass WAIT_REPLICAS: a service with that setting, a join run and a hold run
pass() {
  BOXOFFICE_REDIS_WAIT_REPLICAS=$1 ./target/release/boxoffice serve >>"$work/server.log" 2>&1 &
  server=$!
  wait_until 60 "the service" curl -sf "$base/readyz"
  admin=$(./target/release/boxoffice admin-token)
  local show; show=$(new_show 10 100)
  api PUT "/v1/admin/shows/$show/queue" '{"admit_per_second":0}' >/dev/null
  ./target/release/examples/mint_tokens users $(( secs * 40000 )) >"$work/users.txt"
  wrk -t "$threads" -c "$conns" -d 3s "$base/healthz" >/dev/null
  echo "wait=$1 $(wrk_run join -s loadtest/wrk/join.lua "$base/v1/shows/$show/queue" -- "$work/users.txt" "$show" "$threads")" >>"$results"
  ./target/release/examples/hold_storm "$base" "$admin" 5000 "$work" >/dev/null
  local held; read -r held _ <"$work/contended.txt"
  echo "wait=$1 $(wrk_run hold -s loadtest/wrk/hold.lua "$base/v1/shows/$held/holds" -- \
    "$work/tokens.txt" "$held" "$threads" "$work/own_seats.txt")" >>"$results"
  kill "$server" && wait "$server" 2>/dev/null
  server=""
}

for replicas in 1 0 1 0; do
  log "pass with BOXOFFICE_REDIS_WAIT_REPLICAS=$replicas"
  pass "$replicas"
done

python3 - "$results" "$conns" "$(nproc)" <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
print(f"\nWAIT on and off: {sys.argv[2]} connections, 2 wrk threads, {sys.argv[3]} cores shared by wrk, the service and Redis\n")
print(f"{'pass':<8} {'run':<6} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
for wait, name, rps, p50, p99, bad, _ in rows:
    print(f"{wait:<8} {name:<6} {float(rps):>9.0f} {p50:>8} {p99:>8} {bad:>8}")
print()
for run in ("join", "hold"):
    on = [float(r[2]) for r in rows if r[1] == run and r[0] == "wait=1"]
    off = [float(r[2]) for r in rows if r[1] == run and r[0] == "wait=0"]
    p99_on = statistics.mean(float(r[4]) for r in rows if r[1] == run and r[0] == "wait=1")
    p99_off = statistics.mean(float(r[4]) for r in rows if r[1] == run and r[0] == "wait=0")
    print(f"{run}: WAIT on {statistics.mean(on):.0f} req/s (p99 {p99_on:.1f} ms), off {statistics.mean(off):.0f} req/s "
          f"(p99 {p99_off:.1f} ms): throughput ratio on/off {statistics.mean(on)/statistics.mean(off):.2f}")
PY
