#!/usr/bin/env bash
# A season's catalog: what shows nobody is buying cost. Three instances of the service (the
# workers on in each) on a fresh six-node Redis Cluster; the catalog is filled through the
# admin API to 10, 1,000 and 10,000 shows, none on sale (nobody in any queue), and for each
# size, with no traffic at all, it prints the Redis Cluster's commands/s (all six nodes),
# each instance's CPU and Postgres transactions/s (the database's commits and rollbacks:
# each statement outside a transaction is one). Then a hot sale: wrk joins through HAProxy
# to the three instances, beside the 10,000 idle shows, against the same joins measured
# first on an empty catalog (its own fresh cluster and database), in one run. That hot sale
# is then ended (its `ends_at` set to now): Redis memory (all masters' used_memory) is
# printed before it, during it and once it has drained and let go of its keys.
#
# usage: loadtest/bench_catalog.sh [seconds per idle measurement, default 10]
#                                  [seconds per join run, default 10] [connections, default 256]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
secs=${1:-10}
join_secs=${2:-10}
conns=${3:-256}
threads=2
need_cmd wrk wrk
raise_file_limit
hz=$(getconf CLK_TCK)

redis_commands() {
  local total=0 node
  for node in ${nodes//,/ }; do
    total=$(( total + $(redis-cli -p "${node##*:}" info stats | awk -F: '/^total_commands_processed/ {print $2}' | tr -d '\r') ))
  done
  echo "$total"
}
pg_transactions() {
  psql -At "${DATABASE_URL%/*}/postgres" -c \
    "select xact_commit + xact_rollback from pg_stat_database where datname = '$db'"
}

# usage: idle SHOWS: one measurement of the idle catalog; prints "shows cmds/s pg/s cpu1 cpu2 cpu3"
idle() {
  local before_cmds before_pg before_cpu=() p i cpus=""
  sleep 3 # what filling the catalog set off settles
  before_cmds=$(redis_commands); before_pg=$(pg_transactions)
  for p in "${instance_pids[@]}"; do before_cpu+=("$(ticks "$p")"); done
  sleep "$secs"
  for i in "${!instance_pids[@]}"; do
    cpus="$cpus $(python3 -c "print(f'{100 * ($(ticks "${instance_pids[$i]}") - ${before_cpu[$i]}) / $hz / $secs:.1f}')")"
  done
  echo "$1 $(( ($(redis_commands) - before_cmds) / secs )) $(( ($(pg_transactions) - before_pg) / secs ))$cpus"
}

redis_memory() {
  local total=0 node
  for node in ${nodes//,/ }; do
    if redis-cli -p "${node##*:}" info replication | grep -q '^role:master'; then
      total=$(( total + $(redis-cli -p "${node##*:}" info memory | awk -F: '/^used_memory:/ {print $2}' | tr -d '\r') ))
    fi
  done
  echo "$total"
}

# usage: hot_sale NAME: a new show (its id in $work/hot_show.txt), admission stopped (every
# joiner waits), wrk joins for $join_secs through HAProxy; prints wrk_run's line
hot_sale() {
  local show
  show=$(new_show 10 100)
  echo "$show" >"$work/hot_show.txt"
  api PUT "/v1/admin/shows/$show/queue" '{"admit_per_second":0}' >/dev/null
  ./target/release/examples/mint_tokens users $(( join_secs * 60000 )) >"$work/users.txt"
  wrk -t "$threads" -c "$conns" -d 2s "$base/healthz" >/dev/null
  wrk_run "$1" -s loadtest/wrk/join.lua "$base/v1/shows/$show/queue" -- "$work/users.txt" "$show" "$threads"
}

log "an empty catalog: the hot sale alone"
start_service catalog-empty --example mint_tokens
start_balanced 3
alone=$(hot_sale alone)
stop_service
# The next start reads the stack's own environment again, not the first run's database.
unset DATABASE_URL REDIS_CLUSTER_NODES

log "the catalog filled to 10, 1,000 and 10,000 idle shows"
start_service catalog --example mint_tokens
start_balanced 3
concert=$(api POST /v1/admin/concerts '{"title":"A season"}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')
rows=()
have=0
for want in 10 1000 10000; do
  log "$want shows: $(python3 loadtest/fill_catalog.py "$base" "$admin" "$concert" $(( want - have )))"
  have=$want
  rows+=("$(idle "$want")")
done
log "the hot sale beside 10,000 idle shows"
memory_before=$(redis_memory)
beside=$(hot_sale beside)
hot=$(cat "$work/hot_show.txt")
memory_during=$(redis_memory)
fans=$(api GET "/v1/admin/shows/$hot/queue/stats" | python3 -c 'import sys,json; print(json.load(sys.stdin)["joined_total"])')
log "ending the hot sale ($fans fans in line); waiting for its history to drain and its keys to go"
api PUT "/v1/admin/shows/$hot/queue" "{\"ends_at\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"}" >/dev/null
wait_until 300 "the ended sale let go of" bash -c \
  "[ \"\$(psql -At '$DATABASE_URL' -c 'select released_at is not null from queue_configs where show_id = $hot')\" = t ]"
sleep 2
memory_after=$(redis_memory)

python3 - "$secs" "$alone" "$beside" "$memory_before $memory_during $memory_after $fans" "${rows[@]}" <<'PY'
import sys
secs, alone, beside = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
before, during, after, fans = (int(x) for x in sys.argv[4].split())
rows = [r.split() for r in sys.argv[5:]]
print(f"\nidle catalog, 3 instances with their workers, no traffic ({secs} s each)")
print(f"{'shows':>7} {'redis commands/s':>17} {'postgres xacts/s':>17}   CPU of each instance (% of a core)")
for shows, cmds, pg, *cpus in rows:
    print(f"{int(shows):>7,} {int(cmds):>17,} {int(pg):>17,}   {', '.join(cpus)}")
last = rows[-1]
worst_cpu = max(float(c) for c in last[3:])
print(f"\ntarget with 10,000 idle shows: at most 1,000 Redis commands/s ({int(last[1]):,}: "
      f"{'met' if int(last[1]) <= 1000 else 'NOT met'}), each instance under 5% of a core "
      f"(busiest {worst_cpu:.1f}%: {'met' if worst_cpu < 5 else 'NOT met'})")
ratio = float(beside[1]) / float(alone[1])
print(f"\nhot sale joins/s through 3 instances: empty catalog {float(alone[1]):,.0f} (p99 {alone[3]} ms), "
      f"beside 10,000 idle shows {float(beside[1]):,.0f} (p99 {beside[3]} ms): {ratio:.2f}x "
      f"(target >= 0.95x: {'met' if ratio >= 0.95 else 'NOT met'})")
mib = lambda b: b / 2**20
print(f"\nRedis memory (used_memory, all masters): before the sale {mib(before):.1f} MiB, during it with "
      f"{fans:,} fans in line {mib(during):.1f} MiB, after it ended and drained {mib(after):.1f} MiB "
      f"({100 * (after - before) / before:+.1f}% of before; target within 5%: "
      f"{'met' if abs(after - before) <= 0.05 * before else 'NOT met'})")
PY
