#!/usr/bin/env bash
# Server-sent events at scale on one instance: N fans join a show and open its queue event
# stream; then the queue starts moving at R admissions a second. Prints the memory each
# open stream costs the service (RSS after the streams opened minus before, over N), the
# service's CPU while the queue moves, and the delay from each admission to its `active`
# event at p50/p99: when loadtest/sse_fans.rs got the event, minus the admission time that
# Postgres recorded (the admission script's Redis time, written behind); one machine, one
# clock.
# Starts a fresh six-node Redis Cluster and a release build of the service (Postgres comes
# from scripts/stack.sh), and stops them at the end.
#
# usage: loadtest/bench_sse.sh [streams, default 20000] [admissions per second, default 2000]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fans=${1:-20000}
rate=${2:-2000}
# Each stream is a file descriptor in the service and one in the fans' client.
raise_file_limit
if [ "$(ulimit -n)" != unlimited ] && [ "$fans" -gt $(( $(ulimit -n) - 300 )) ]; then
  log "this machine allows $(ulimit -n) open files per process: running $(( $(ulimit -n) - 300 )) streams, not $fans"
  fans=$(( $(ulimit -n) - 300 ))
fi
export BOXOFFICE_SSE_MAX_STREAMS=$(( fans + 1000 ))

start_service sse --example mint_tokens --example sse_fans
show=$(new_show 10 100)
api PUT "/v1/admin/shows/$show/queue" '{"admit_per_second":0,"max_active":1000000,"session_ttl_s":3600}' >/dev/null
./target/release/examples/mint_tokens users "$fans" >"$work/users.txt"

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$server/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }

log "joining $fans fans"
STOP="$work/stop" ./target/release/examples/sse_fans "$base" "$show" <"$work/users.txt" >"$work/fans.out" &
sampler=$!
wait_until 600 "every fan joined" grep -q '^joined' "$work/fans.out"
sleep 2
rss_before=$(rss_kib)
log "opening $fans streams"
wait_until 600 "every stream open" grep -q '^open' "$work/fans.out"
sleep 3
rss_after=$(rss_kib)

log "admitting $rate fans a second"
cpu_before=$(cpu_ticks); started=$(date +%s.%N)
api PUT "/v1/admin/shows/$show/queue" "{\"admit_per_second\":$rate}" >/dev/null
limit=$(( fans / rate + 60 ))
for _ in $(seq "$limit"); do
  kill -0 "$sampler" 2>/dev/null || break
  sleep 1
done
touch "$work/stop"; wait "$sampler" 2>/dev/null || true; sampler=""
cpu_after=$(cpu_ticks); ended=$(date +%s.%N)
wait_until 60 "the write-behind of the admissions" test "$(psql -At "$DATABASE_URL" -c \
  "select count(*) from queue_entries where show_id = $show and admitted_at is not null")" -ge "$fans"
psql -At -F ' ' "$DATABASE_URL" -c "select seq, (extract(epoch from admitted_at) * 1000)::bigint
  from queue_entries where show_id = $show and admitted_at is not null" >"$work/admitted.txt"

python3 - "$work/fans.out" "$work/admitted.txt" "$fans" "$rate" "$rss_before" "$rss_after" "$cpu_before" "$cpu_after" "$started" "$ended" "$(getconf CLK_TCK)" "$(nproc)" <<'PY'
import sys
out, admitted, fans, rate, rss0, rss1, cpu0, cpu1, t0, t1, tck, cores = sys.argv[1:]
admitted_at = dict(map(int, l.split()) for l in open(admitted) if l.strip())
told = [l.split() for l in open(out) if l.startswith("active ")]
delays = sorted(int(at) - admitted_at[int(seq)] for _, seq, at in told if int(seq) in admitted_at)
fans, seconds = int(fans), float(t1) - float(t0)
def pct(p): return delays[min(len(delays) - 1, int(len(delays) * p))] if delays else float("nan")
per_stream = (int(rss1) - int(rss0)) * 1024 / fans
cpu = (int(cpu1) - int(cpu0)) / int(tck) / seconds * 100
print(f"\nSSE: {fans} open queue streams on one instance, admission at {rate}/s, {cores} cores shared by the fans' client, the service and Redis\n")
print(f"memory per open stream   {per_stream / 1024:.1f} KiB  (service RSS {int(rss0)/1024:.0f} MiB -> {int(rss1)/1024:.0f} MiB)")
print(f"service CPU while moving {cpu:.0f} % of one core over {seconds:.1f} s")
print(f"admitted and told        {len(delays)} of {fans}")
print(f"admission -> active      p50 {pct(0.50)} ms, p99 {pct(0.99)} ms, max {delays[-1] if delays else 'n/a'} ms")
ok = len(delays) == fans and pct(0.99) <= 1000 and per_stream <= 16 * 1024
print("\nSSE CHECK " + ("PASSED" if ok else "FAILED") + " (every fan told, p99 <= 1 s, <= 16 KiB per stream)")
sys.exit(0 if ok else 1)
PY
