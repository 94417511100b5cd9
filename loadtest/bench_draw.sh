#!/usr/bin/env bash
# The fair opening's draw at scale: N fans (default 500,000) wait in a show's pre-queue (put
# straight into Postgres, as their joins would); at opens_at the service closes the
# pre-queue and draws it. Meanwhile wrk keeps joining latecomers to the same show. Prints
# how long admission waited (from the close of the pre-queue until everyone was placed in
# draw order) and where that time went, the latecomers' join latency around the opening,
# and that admission went on. Passes when admission waited under 2 s.
# Starts a fresh six-node Redis Cluster and a release build of the service (Postgres comes
# from scripts/stack.sh), and stops them at the end. With `postgres`, the deployment is
# moved to the Postgres fallback first (`boxoffice backend postgres`): the draw during an
# outage.
#
# usage: loadtest/bench_draw.sh [pre-queued fans, default 500000] [redis|postgres]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fans=${1:-500000}
backend=${2:-redis}
secs=12
threads=2
conns=64
need_cmd wrk wrk
raise_file_limit
export RUST_LOG="warn,boxoffice::worker::opening=info,boxoffice::store::postgres::fairness=info"

start_service draw --example mint_tokens
if [ "$backend" = postgres ]; then
  ./target/release/boxoffice backend postgres >/dev/null
  wait_until 30 "the move to Postgres" bash -c "curl -s $base/readyz | grep -q '\"backend\":\"postgres\"'"
fi
show=$(new_show 10 100)
opens_in=25
opens_at=$(date -u -d "+${opens_in} seconds" +%Y-%m-%dT%H:%M:%SZ)
api PUT "/v1/admin/shows/$show/queue" "{\"opens_at\":\"$opens_at\",\"max_active\":1000000,\"admit_per_second\":5000}" >/dev/null
log "putting $fans fans in the pre-queue"
psql -q "$DATABASE_URL" -c "INSERT INTO pre_queue (show_id, user_id, joined_at)
  SELECT $show, gen_random_uuid(), now() FROM generate_series(1, $fans)"
./target/release/examples/mint_tokens users 400000 >"$work/users.txt"

log "joining latecomers across the opening at $opens_at"
until [ "$(date +%s)" -ge "$(date -u -d "$opens_at" +%s)" ]; do sleep 0.1; done
joins=$(wrk_run join -s loadtest/wrk/join.lua "$base/v1/shows/$show/queue" -- "$work/users.txt" "$show" "$threads")
wait_until 120 "the draw" grep -q "pre-queue drawn" "$work/server.log"
sleep 2
stats=$(api GET "/v1/admin/shows/$show/queue/stats")
drawn=$(curl -s "$base/v1/shows/$show/fairness")

python3 - "$work/server.log" "$joins" "$stats" "$drawn" "$fans" "$(nproc)" "$backend" <<'PY'
import json, re, sys
log, joins, stats, fairness, fans, cores, backend = sys.argv[1:]
figures = None
for line in open(log):
    line = re.sub(r"\x1b\[[0-9;]*m", "", line)
    if "pre-queue drawn" in line:
        figures = {name: int(re.search(name + r"[=:\"]+(\d+)", line).group(1))
                   for name in ("fetched_ms", "ordered_ms", "placed_ms", "recorded_ms", "admission_waited_ms")}
name, rps, p50, p99, non2xx, errors = joins.split()
stats, fairness = json.loads(stats), json.loads(fairness)
print(f"\nDraw: {fans} pre-queued fans, latecomers joining across the opening, served from {backend}; {cores} cores shared by wrk, the service, Redis and Postgres\n")
if figures:
    print(f"admission paused, pre-queue closed -> all placed  {figures['admission_waited_ms']} ms")
    print(f"  of which: pre-queue read from Postgres          {figures['fetched_ms']} ms")
    print(f"            HMACs and sort                        {figures['ordered_ms']} ms")
    print(f"            placed (in {backend:8})               {figures['placed_ms'] - figures['fetched_ms'] - figures['ordered_ms']} ms")
    print(f"then recorded in Postgres, seed revealed         {figures['recorded_ms']} ms later")
print(f"latecomer joins around the opening               {float(rps):.0f} req/s, p50 {p50} ms, p99 {p99} ms, non-2xx {non2xx}, errors {errors}")
print(f"drawn, per the fairness endpoint                 {fairness['pre_queue_size']} (seed revealed: {fairness['seed'] is not None})")
print(f"admitted since the opening                       {stats['admitted_total']}")
ok = figures is not None and figures["admission_waited_ms"] < 2000 and fairness["pre_queue_size"] == int(fans) and stats["admitted_total"] > 0
print("\nDRAW CHECK " + ("PASSED" if ok else "FAILED") + " (everyone drawn, admission paused < 2 s, went on)")
sys.exit(0 if ok else 1)
PY
