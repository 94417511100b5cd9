#!/usr/bin/env bash
# Many shows on sale at once, and one hot show: where a show's keys live and what each
# Redis master carries. Creates 30 shows, prints the slot map (show, hash slot, master),
# then runs wrk joins spread over the 30 shows, and the same joins on one show. For each
# run: joins/s, p50/p99, and per master the commands it processed and the CPU it used,
# with the service's and the machine's CPU, so the part that limits the run is named from
# measurements; and the one-master ceiling a show would reach if its master were the limit
# (joins per second per percent of a core on the hot master).
#
# It starts a fresh six-node Redis Cluster and a release build of the service (Postgres
# comes from scripts/stack.sh), and stops them at the end.
#
# usage: loadtest/bench_shows.sh [seconds per run, default 15] [connections, default 256]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
secs=${1:-15}
conns=${2:-256}
threads=2
shows_n=30
need_cmd wrk wrk
raise_file_limit

start_service shows --example mint_tokens
shows=""
for _ in $(seq "$shows_n"); do
  show=$(new_show 2 10)
  api PUT "/v1/admin/shows/$show/queue" '{"admit_per_second":0}' >/dev/null
  shows="$shows${shows:+,}$show"
done
hz=$(getconf CLK_TCK)
seed=${nodes%%,*}
cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }
masters=$(cli "${seed#*:}" cluster nodes | awk '$3 ~ /master/ {split($2, a, "[:@]"); print a[2]}' | sort -n)

log "the slot map: each show's keys share the hash tag {s<id>}"
: >"$work/slots.txt"
for show in ${shows//,/ }; do
  slot=$(cli "${seed#*:}" cluster keyslot "{s$show}")
  master=$(cli "${seed#*:}" cluster nodes | awk -v s="$slot" '$3 ~ /master/ {
    for (i = 9; i <= NF; i++) { n = split($i, r, "-"); lo = r[1]; hi = (n == 2 ? r[2] : r[1]); if (s >= lo && s <= hi) { split($2, a, "[:@]"); print a[2] } } }')
  echo "$show $slot $master" >>"$work/slots.txt"
done
python3 - "$work/slots.txt" <<'PY'
import sys, collections
rows = [l.split() for l in open(sys.argv[1])]
print("show  slot   master")
for show, slot, master in rows:
    print(f"{show:>4} {slot:>5}   127.0.0.1:{master}")
print("shows per master:", dict(sorted(collections.Counter(m for _, _, m in rows).items())))
PY

commands() { cli "$1" info stats | awk -F: '/^total_commands_processed/ {print $2}' | tr -d '\r'; }

# usage: measure NAME SHOWS: one wrk join run; prints its lines of the table
measure() {
  local name=$1 targets=$2 before=() p started service_before busy_before line wall
  ./target/release/examples/mint_tokens users $(( secs * 60000 )) >"$work/users.txt"
  for p in $masters; do before+=("$p:$(commands "$p"):$(ticks "$(cat "$cluster_dir/$p/redis.pid")")"); done
  service_before=$(ticks "$server"); busy_before=$(busy_ticks); started=$(date +%s.%N)
  line=$(wrk_run "$name" -s loadtest/wrk/join.lua "$base/v1/shows/$targets/queue" -- "$work/users.txt" "$targets" "$threads")
  wall=$(python3 -c "import time; print(time.time() - $started)")
  local per_master=""
  for entry in "${before[@]}"; do
    IFS=: read -r p c t <<<"$entry"
    per_master="$per_master $p:$(( $(commands "$p") - c )):$(( $(ticks "$(cat "$cluster_dir/$p/redis.pid")") - t ))"
  done
  echo "$line|$wall|$hz|$(( $(ticks "$server") - service_before ))|$(( $(busy_ticks) - busy_before ))|$(nproc)|$per_master"
}

log "joins spread over the $shows_n shows"
spread=$(measure spread "$shows")
log "joins on one show"
hot_show=${shows%%,*}
hot=$(measure hot "$hot_show")

python3 - "$spread" "$hot" "$hot_show" "$work/slots.txt" "$conns" <<'PY'
import sys
slots = {l.split()[0]: l.split()[2] for l in open(sys.argv[4])}
hot_master = slots[sys.argv[3]]
print(f"\n{sys.argv[5]} connections, 2 wrk threads; wrk, the service, six Redis nodes and Postgres share the machine")
for label, raw in (("30 shows", sys.argv[1]), ("one show", sys.argv[2])):
    line, wall, hz, service, busy, cores, masters = raw.split("|")
    name, rps, p50, p99, bad, err = line.split()
    wall, hz, cores = float(wall), int(hz), int(cores)
    print(f"\n{label}: {float(rps):,.0f} joins/s, p50 {p50} ms, p99 {p99} ms, non-2xx {bad}, socket errors {err}; "
          f"service CPU {100 * int(service) / hz / wall:.0f}% of a core, machine {100 * int(busy) / hz / wall / cores:.0f}% busy")
    cpus = []
    for entry in masters.split():
        port, commands, ticks = entry.split(":")
        cpu = 100 * int(ticks) / hz / wall
        cpus.append(cpu)
        mark = "  <- the show's master" if label == "one show" and port == hot_master else ""
        print(f"  master 127.0.0.1:{port}: {int(commands) / wall:>9,.0f} commands/s, CPU {cpu:>3.0f}% of a core{mark}")
        if mark and cpu > 0:
            print(f"  one master's ceiling for one show, if it were the limit: about "
                  f"{float(rps) * 100 / cpu:,.0f} joins/s (joins/s per % of its core x 100)")
    if label == "30 shows" and min(cpus) > 0:
        spread_ceiling, one_ceiling = float(rps) * 100 / max(cpus), float(rps) * 100 / sum(cpus)
        print(f"  with {len(cpus)} masters, if the busiest were the limit: about {spread_ceiling:,.0f} joins/s; "
              f"the same work on one master: about {one_ceiling:,.0f} ({spread_ceiling / one_ceiling:.1f}x for {len(cpus)} masters)")
PY
