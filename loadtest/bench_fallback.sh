#!/usr/bin/env bash
# The sale with Redis down, in one go on this machine:
#  1. switch: every node of the Redis Cluster frozen (SIGSTOP) under a trickle of joins; the
#     time from the freeze to the first join served from Postgres, and from the first failed
#     call (the Redis timeout later) to it; then the nodes are killed, so Redis stays down;
#  2. the same join and waiting-user poll runs as bench_http.sh, served from Postgres;
#  3. the same hold runs as bench_holds.sh (storm on one seat, paced storm, distinct seats);
#  4. rebuild: a show with 100,000 waiting users, then an empty cluster on the same ports;
#     the time until the deployment serves from Redis again and how long the copy took.
# Starts a fresh six-node Redis Cluster and a release build of the service (Postgres comes
# from scripts/stack.sh), and stops them at the end.
#
# usage: loadtest/bench_fallback.sh [seconds per wrk run, default 10] [connections, default 256]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
secs=${1:-10}
conns=${2:-256}
threads=2
users=5000
waiters=100000
need_cmd wrk wrk
raise_file_limit
export BOXOFFICE_REDIS_RECOVERY_MS=2000

start_service fallback --example mint_tokens --example hold_storm
show=$(new_show 10 100)
api PUT "/v1/admin/shows/$show/queue" '{"admit_per_second":0}' >/dev/null
redis_pids() { cat "$cluster_dir"/*/redis.pid; }
backend() { curl -s "$base/readyz" | python3 -c 'import sys,json; print(json.load(sys.stdin)["backend"])'; }
now_ms() { date +%s%3N; }

log "1. switch: freezing every Redis node under a trickle of joins"
./target/release/examples/mint_tokens users 400 >"$work/trickle.txt"
mapfile -t trickle <"$work/trickle.txt"
for token in "${trickle[@]:0:20}"; do # warm: served from Redis
  curl -s -o /dev/null -X POST -H "Authorization: Bearer $token" "$base/v1/shows/$show/queue"
done
frozen=$(now_ms)
redis_pids | xargs kill -STOP
served=""
for token in "${trickle[@]:20}"; do
  status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST -H "Authorization: Bearer $token" "$base/v1/shows/$show/queue")
  if [ "$status" = 201 ]; then served=$(now_ms); break; fi
  sleep 0.05
done
[ -n "$served" ] || die "no join was served after the freeze"
redis_pids | xargs kill -KILL
[ "$(backend)" = postgres ] || die "the service is not serving from postgres"
timeout_ms=${BOXOFFICE_REDIS_TIMEOUT_MS:-1000}
switch_ms=$((served - frozen))

log "2. joins and waiting-user polls, from Postgres"
./target/release/examples/mint_tokens users $((secs * 20000)) >"$work/users.txt"
# The polls are those of fans who really joined (each token proves a place that exists).
./target/release/examples/mint_tokens users 20000 >"$work/fans.txt"
python3 loadtest/join_fans.py "$base" "$show" "$work/fans.txt" "$work/queue.txt"
join=$(wrk_run join -s loadtest/wrk/join.lua "$base/v1/shows/$show/queue" -- "$work/users.txt" "$show" "$threads")
poll=$(wrk_run poll -s loadtest/wrk/poll.lua "$base/v1/shows/$show/queue" -- "$work/queue.txt" "$show" "$threads")

log "3. holds, from Postgres ($users active users)"
./target/release/examples/hold_storm "$base" "$admin" "$users" "$work" | tee "$work/storm.txt"
read -r hold_show seat <"$work/contended.txt"
storm=$(wrk_run storm -s loadtest/wrk/hold.lua "$base/v1/shows/$hold_show/holds" -- \
  "$work/tokens.txt" "$hold_show" "$threads" "$work/own_seats.txt" "$seat")
own=$(wrk_run own -s loadtest/wrk/hold.lua "$base/v1/shows/$hold_show/holds" -- \
  "$work/tokens.txt" "$hold_show" "$threads" "$work/own_seats.txt")
grep -q '^STATUSES 201=0 409=[1-9][0-9]* other=0$' "$work/storm.wrk" || die "the paced storm took a held seat"
grep -q '^STATUSES 201=[1-9][0-9]* 409=0 other=0$' "$work/own.wrk" || die "a hold of a free seat failed"

log "4. rebuild: $waiters waiting users, then Redis back empty"
big=$(new_show 10 100)
api PUT "/v1/admin/shows/$big/queue" '{"admit_per_second":0}' >/dev/null
psql -q "$DATABASE_URL" <<SQL
INSERT INTO queue_entries (show_id, seq, user_id, joined_at)
  SELECT $big, g, gen_random_uuid(), now() FROM generate_series(1, $waiters) AS g;
UPDATE queue_state SET last_seq = $waiters WHERE show_id = $big;
-- As the fans' joins on the fallback would have: the rebuild copies the live shows.
INSERT INTO live_shows (show_id, busy_at) VALUES ($big, now());
SQL
returned=$(now_ms)
scripts/redis-cluster.sh start --dir "$cluster_dir" >/dev/null
wait_until 120 "the deployment back on redis" bash -c "[ \"\$(curl -s $base/readyz | python3 -c 'import sys,json; print(json.load(sys.stdin)[\"backend\"])')\" = redis ]"
back_ms=$(( $(now_ms) - returned ))
rebuilt=$(grep 'redis rebuilt' "$work/server.log" | tail -n 1 | sed 's/\x1b\[[0-9;]*m//g')
big_stats=$(curl -s -H "Authorization: Bearer $admin" "$base/v1/admin/shows/$big/queue/stats")

python3 - "$switch_ms" "$timeout_ms" "$join" "$poll" "$storm" "$own" "$back_ms" "$rebuilt" "$big_stats" "$waiters" "$conns" <<'PY'
import sys, json, re
switch_ms, timeout_ms = int(sys.argv[1]), int(sys.argv[2])
runs = {r.split()[0]: r.split() for r in sys.argv[3:7]}
back_ms, rebuilt, stats, waiters, conns = int(sys.argv[7]), sys.argv[8], json.loads(sys.argv[9]), int(sys.argv[10]), sys.argv[11]
copy = re.search(r"copy_ms=(\d+)", rebuilt)
drain = re.search(r"drain_ms=(\d+)", rebuilt)
print(f"\nboxoffice with Redis down: served from Postgres ({conns} connections, 2 wrk threads, 2 shared cores)\n")
print(f"switch: first join served from Postgres {switch_ms} ms after the freeze, "
      f"{max(0, switch_ms - timeout_ms)} ms after the first call failed (Redis timeout {timeout_ms} ms)")
targets = {"join": 3000, "poll": 20000, "own": 1000}
print(f"\n{'run':<8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'sock err':>8}  target")
for name in ["join", "poll", "storm", "own"]:
    _, rps, p50, p99, bad, err = runs[name]
    goal = targets.get(name)
    verdict = f">= {goal}/s: {'met' if float(rps) >= goal else 'NOT met'}" if goal else "every answer a clean 409"
    print(f"{name:<8} {float(rps):>9.0f} {p50:>8} {p99:>8} {bad:>8} {err:>8}  {verdict}")
print(f"\nrebuild: back on Redis {back_ms} ms after the empty cluster was started (probes must see it "
      f"steady for 2 s first); the rebuild itself: drain {drain.group(1) if drain else '?'} ms, "
      f"copy {copy.group(1) if copy else '?'} ms for {waiters} waiters and the other shows")
print(f"after it, Redis says: {stats['waiting']} waiting in the big show, backend {stats['backend']}")
ok = stats["waiting"] == waiters and stats["backend"] == "redis"
print("rebuilt state: " + ("every waiter is back in Redis" if ok else "WRONG"))
sys.exit(0 if ok else 1)
PY
