#!/usr/bin/env bash
# The HTTP contract as an outside client sees it: schemathesis drives every operation of
# /openapi.json with every check against a debug build of the service on the local stack,
# once with valid data (tests/contract/valid.toml: the shows and tokens set up here) and
# once with invalid data (tests/contract/invalid.toml). Any finding fails the run. Bounded:
# 50 examples per operation and phase, a minute or two. Installs schemathesis from PyPI into
# .local/schemathesis on first use.
#
# usage: scripts/contract.sh   (scripts/test.sh runs it)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SCHEMATHESIS_VERSION=4.32.5

"$ROOT/scripts/stack.sh" up >/dev/null
# shellcheck disable=SC1091
source "$LOCAL/stack.env"
cd "$ROOT"

venv="$LOCAL/schemathesis"
if [ ! -x "$venv/bin/st" ]; then
  log "installing schemathesis $SCHEMATHESIS_VERSION (pip, into $venv)"
  python3 -m venv "$venv" >/dev/null 2>&1 || { install_pkg python3-venv venv; rm -rf "$venv"; python3 -m venv "$venv"; }
  "$venv/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

cargo build --locked --quiet --bin boxoffice
work="$LOCAL/contract"
rm -rf "$work" && mkdir -p "$work"
db="contract_$$"
prefix="contract-$$"
psql -q "$DATABASE_URL" -c "create database $db"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
stop() {
  [ -z "${server:-}" ] || { kill "$server" && wait "$server"; } 2>/dev/null || true
  psql -q "$DATABASE_URL" -c "drop database if exists $db" >/dev/null 2>&1 || true
  for node in ${REDIS_CLUSTER_NODES//,/ }; do
    redis-cli -p "${node##*:}" --scan --pattern "$prefix:*" 2>/dev/null |
      xargs -r -n 200 redis-cli -p "${node##*:}" del >/dev/null 2>&1 || true
  done
}
trap stop EXIT
# One address fuzzing thousands of requests: the abuse limits would answer most of them.
# The run checks the contract, not latency: on a machine busy enough to stall a commit for
# seconds, the default 3 s bound would answer 503 (rightly, but not what is checked here).
DATABASE_URL="${DATABASE_URL%/*}/$db" BOXOFFICE_HTTP_ADDR="127.0.0.1:$port" BOXOFFICE_REDIS_PREFIX="$prefix" \
  BOXOFFICE_DB_TIMEOUT_MS=15000 \
  BOXOFFICE_LIMIT_TOKENS_PER_IP=0 BOXOFFICE_LIMIT_JOINS_PER_IP=0 BOXOFFICE_LIMIT_JOINS_PER_USER=0 \
  BOXOFFICE_LIMIT_HOLDS_PER_USER=0 BOXOFFICE_LIMIT_RESERVATIONS_PER_USER=0 RUST_LOG=warn \
  ./target/debug/boxoffice serve >"$work/server.log" 2>&1 &
server=$!
wait_until 60 "the service" curl -sf "$base/readyz"

ADMIN_TOKEN=$(DATABASE_URL="${DATABASE_URL%/*}/$db" ./target/debug/boxoffice admin-token)
json() { python3 -c "import sys, json; print(json.load(sys.stdin)$1)"; }
call() { # METHOD PATH TOKEN [BODY]
  curl -sf -X "$1" -H "Authorization: Bearer $3" -H 'content-type: application/json' "$base$2" ${4:+-d "$4"}
}
CONCERT=$(call POST /v1/admin/concerts "$ADMIN_TOKEN" '{"title":"Contract"}' | json '["id"]')
new_show() {
  call POST "/v1/admin/concerts/$CONCERT/shows" "$ADMIN_TOKEN" \
    '{"starts_at":"2030-01-01T20:00:00Z","sections":[{"name":"Floor","rows":5,"seats_per_row":10,"price":10}]}' | json '["id"]'
}
ADMIN_SHOW=$(new_show)
SHOW=$(new_show)
call PUT "/v1/admin/shows/$SHOW/queue" "$ADMIN_TOKEN" '{"max_active":100000,"admit_per_second":1000,"session_ttl_s":86400}' >/dev/null
user=$(curl -sf -X POST "$base/v1/tokens" | json '["token"]')
QUEUE_TOKEN=$(call POST "/v1/shows/$SHOW/queue" "$user" | json '["queue_token"]')
wait_until 30 "admission" bash -c "curl -sf -H 'Authorization: Bearer $QUEUE_TOKEN' $base/v1/shows/$SHOW/queue | grep -q '\"active\"'"
export ADMIN_TOKEN QUEUE_TOKEN CONCERT SHOW ADMIN_SHOW

status=0
for pass in valid invalid; do
  mode=$([ "$pass" = valid ] && echo positive || echo negative)
  log "schemathesis: $pass data"
  (cd "$work" && "$venv/bin/st" --config-file "$ROOT/tests/contract/$pass.toml" run "$base/openapi.json" \
    --checks all --mode "$mode") || status=1
done
[ "$status" = 0 ] || { log "the contract has findings (above); the service's log is $work/server.log"; exit 1; }
log "no findings"
