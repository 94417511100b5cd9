#!/usr/bin/env bash
# HTTP speed of the queue, in one go on this machine: wrk against join and against a
# waiting user's poll, with a bare endpoint of the same server (/healthz) and
# `redis-benchmark -t set` on the same cluster as references; prints req/s, p50, p99, the
# ratios, and the write-behind lag measured during the join run.
#
# It starts a fresh six-node Redis Cluster and a release build of the service (Postgres
# comes from scripts/stack.sh), and stops them at the end.
#
# usage: loadtest/bench_http.sh [seconds per run, default 10] [connections, default 256]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
secs=${1:-10}
conns=${2:-256}
threads=2
need_cmd wrk wrk
need_cmd redis-benchmark redis-tools
raise_file_limit

start_service http --example mint_tokens
show=$(new_show 10 100)
# Nobody is admitted during the runs: every joiner waits, every poll is a waiting user's.
api PUT "/v1/admin/shows/$show/queue" '{"admit_per_second":0}' >/dev/null

joins=$(( secs * 60000 ))
log "minting $joins user tokens; 20000 fans join first (their polls are measured)"
./target/release/examples/mint_tokens users "$joins" >"$work/users.txt"
# The polls are those of fans who really joined (each token proves a place that exists).
./target/release/examples/mint_tokens users 20000 >"$work/fans.txt"
python3 loadtest/join_fans.py "$base" "$show" "$work/fans.txt" "$work/queue.txt"

sample_lag() {
  while true; do
    curl -s "$base/readyz" | python3 -c 'import sys,json; w=json.load(sys.stdin)["write_behind"]; print(w["backlog"], w["oldest_unwritten_s"])' 2>/dev/null
    sleep 1
  done
}

log "warm-up"
wrk -t "$threads" -c "$conns" -d 3s "$base/healthz" >/dev/null
log "bare endpoint (/healthz)"
bare=$(wrk_run healthz -s loadtest/wrk/plain.lua "$base/healthz")
log "join"
sample_lag >"$work/lag.txt" &
sampler=$!
join=$(wrk_run join -s loadtest/wrk/join.lua "$base/v1/shows/$show/queue" -- "$work/users.txt" "$show" "$threads")
kill "$sampler"; sampler=""
log "poll (waiting users)"
poll=$(wrk_run poll -s loadtest/wrk/poll.lua "$base/v1/shows/$show/queue" -- "$work/queue.txt" "$show" "$threads")
log "redis-benchmark -t set (same cluster)"
seed=${nodes%%,*}
redis_line=$(redis-benchmark -h "${seed%:*}" -p "${seed#*:}" --cluster -t set -c "$conns" -n $(( secs * 50000 )) --csv 2>/dev/null | grep '"SET"')
redis=$(python3 - "$redis_line" <<'PY'
import sys
f = [x.strip('"') for x in sys.argv[1].split(",")]
print(f"redis-SET {float(f[1]):.0f} {float(f[4]):.2f} {float(f[6]):.2f} 0 0")
PY
)
joined=$(curl -s -H "Authorization: Bearer $admin" "$base/v1/admin/shows/$show/queue/stats")

python3 - "$bare" "$join" "$poll" "$redis" "$work/lag.txt" "$joined" "$conns" "$(nproc)" <<'PY'
import sys, json
rows = [r.split() for r in sys.argv[1:5]]
lag = [l.split() for l in open(sys.argv[5]) if len(l.split()) == 2]
stats, conns, cores = json.loads(sys.argv[6]), sys.argv[7], sys.argv[8]
by = {r[0]: r for r in rows}
print(f"\nboxoffice HTTP benchmark: {conns} connections, 2 wrk threads, {cores} cores shared by wrk, the service and Redis\n")
print(f"{'run':<10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'sock err':>8}  vs /healthz  vs redis SET")
for name, rps, p50, p99, bad, err in rows:
    print(f"{name:<10} {float(rps):>9.0f} {p50:>8} {p99:>8} {bad:>8} {err:>8}  "
          f"{float(rps)/float(by['healthz'][1]):>10.2f}  {float(rps)/float(by['redis-SET'][1]):>10.2f}")
targets = [("join", 25000, 10.0), ("poll", 50000, None)]
print()
for name, rps_target, p99_target in targets:
    r = by[name]
    ok = float(r[1]) >= rps_target and (p99_target is None or float(r[3]) <= p99_target)
    goal = f">= {rps_target} req/s" + (f", p99 <= {p99_target} ms" if p99_target else "")
    print(f"target {name}: {goal}: {'met' if ok else 'NOT met'}")
print(f"\njoined during the run: {stats['joined_total']} users")
if lag:
    backlog = max(int(b) for b, _ in lag)
    oldest = max(float(a) for _, a in lag)
    print(f"write-behind lag during the join run: max backlog {backlog} stream entries, max age of the oldest unwritten one {oldest:.1f} s")
PY
