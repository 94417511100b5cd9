# Shared by the benchmark scripts: a fresh six-node Redis Cluster, a fresh database on the
# stack's Postgres and a release build of the service on a free port, all removed on exit.
# Source it after scripts/lib.sh; then call start_service. Sets: base, show helpers, work.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$ROOT"

# usage: start_service <name> [extra cargo build targets...]
start_service() {
  start_stack "$@"
  ./target/release/boxoffice serve >"$work/server.log" 2>&1 &
  server=$!
  wait_until 60 "the service" curl -sf "$base/readyz"
  admin=$(./target/release/boxoffice admin-token)
}

# The cluster, the database and the environment, without the server.
start_stack() {
  local name=$1; shift
  scripts/stack.sh up >/dev/null
  # shellcheck disable=SC1091
  source "$LOCAL/stack.env"
  work="$LOCAL/bench-$name"
  rm -rf "$work" && mkdir -p "$work"
  cluster_dir="$work/cluster"
  nodes=$(scripts/redis-cluster.sh start --dir "$cluster_dir")
  db="bench_${name//-/_}_$(date +%s)"
  psql -q "$DATABASE_URL" -c "create database $db"
  local port
  port=$(free_port)
  base="http://127.0.0.1:$port"
  export REDIS_CLUSTER_NODES=$nodes
  export DATABASE_URL="${DATABASE_URL%/*}/$db"
  export BOXOFFICE_HTTP_ADDR="127.0.0.1:$port"
  export BOXOFFICE_JWT_SECRET="bench-secret-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  export RUST_LOG=${RUST_LOG:-warn}
  # Every load generator here is one address reusing its users: the abuse limits would
  # measure themselves. Per-address limits are off; per-user ones too unless the script
  # sets KEEP_USER_LIMITS=1 (the rehearsal does: a fan must never see a 429).
  export BOXOFFICE_LIMIT_TOKENS_PER_IP=0 BOXOFFICE_LIMIT_JOINS_PER_IP=0
  if [ "${KEEP_USER_LIMITS:-0}" != 1 ]; then
    export BOXOFFICE_LIMIT_JOINS_PER_USER=0 BOXOFFICE_LIMIT_HOLDS_PER_USER=0 BOXOFFICE_LIMIT_RESERVATIONS_PER_USER=0
  fi
  trap stop_service EXIT
  log "building (release)"
  cargo build --release --locked --bin boxoffice "$@" 2>&1 | tail -n 1
}

# Lets this script and what it starts open as many files (sockets) as the machine allows
# (its hard limit: 20,000 on some machines, far more on others).
raise_file_limit() {
  ulimit -n "$(ulimit -Hn)"
}

# The files one process may open, a number (at most 200,200 when unlimited).
open_files_limit() {
  local limit; limit=$(ulimit -n)
  [ "$limit" = unlimited ] && limit=200200
  echo $(( limit < 200200 ? limit : 200200 ))
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# usage: start_balanced N: N instances of the service (the one start_service started and
# N-1 more, on the same cluster and database) behind HAProxy (Debian's), which becomes
# $base. Sets instance_pids, instance_bases and balancer_maxconn (the connections HAProxy
# takes: two sockets each, within the files a process may open here).
start_balanced() {
  local n=$1 i port
  balancer_maxconn=$(( ($(open_files_limit) - 200) / 2 ))
  instance_pids=("$server")
  instance_bases=("$base")
  for i in $(seq 2 "$n"); do
    port=$(free_port)
    BOXOFFICE_HTTP_ADDR=127.0.0.1:$port ./target/release/boxoffice serve >"$work/server-$i.log" 2>&1 &
    instance_pids+=("$!")
    instance_bases+=("http://127.0.0.1:$port")
  done
  for i in "${instance_bases[@]}"; do wait_until 60 "the service at $i" curl -sf "$i/readyz"; done
  need_cmd haproxy haproxy
  port=$(free_port)
  {
    printf 'global\n  maxconn %s\ndefaults\n  mode http\n  maxconn %s\n  timeout connect 5s\n' "$balancer_maxconn" "$balancer_maxconn"
    printf '  timeout client 300s\n  timeout server 300s\n  timeout tunnel 1h\n'
    printf 'frontend fans\n  bind 127.0.0.1:%s\n  default_backend boxoffice\n' "$port"
    printf 'backend boxoffice\n  balance roundrobin\n'
    for i in "${!instance_bases[@]}"; do printf '  server i%s %s\n' "$i" "${instance_bases[$i]#http://}"; done
  } >"$work/haproxy.cfg"
  haproxy -f "$work/haproxy.cfg" -D -p "$work/haproxy.pid"
  base="http://127.0.0.1:$port"
  wait_until 10 "HAProxy" curl -sf "$base/readyz"
}

# CPU ticks so far (utime + stime) of the processes given, summed. An empty pid (a part the
# run didn't start, such as HAProxy for one instance) counts 0: "/proc//stat" is the
# machine's own stat file.
ticks() {
  local t=0 p
  for p in "$@"; do
    [[ $p =~ ^[0-9]+$ ]] || continue
    t=$(( t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0) ))
  done
  echo "$t"
}

# usage: cpu_of FILE COMMAND...: runs the command; writes the CPU seconds it used (user +
# system, its children included) to FILE; returns its exit status.
cpu_of() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys
code = subprocess.run(sys.argv[2:]).returncode
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write(f"{usage.ru_utime + usage.ru_stime}\n")
sys.exit(code)
PY
}

# CPU ticks the whole machine has been busy so far.
busy_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8}' /proc/stat; }

stop_service() {
  # (every line ends in `|| true`: the trap must get to the end under `set -e`)
  [ -z "${server:-}" ] || { kill "$server" && wait "$server"; } 2>/dev/null || true
  for p in "${instance_pids[@]:1}"; do { kill "$p" && wait "$p"; } 2>/dev/null || true; done
  [ ! -f "$work/haproxy.pid" ] || kill "$(cat "$work/haproxy.pid")" 2>/dev/null || true
  [ -z "${sampler:-}" ] || kill "$sampler" 2>/dev/null || true
  scripts/redis-cluster.sh stop --dir "$cluster_dir" >/dev/null 2>&1
  psql -q "${DATABASE_URL%/*}/postgres" -c "drop database if exists $db" >/dev/null 2>&1
  true
}

# usage: api METHOD PATH [JSON]: an admin call; prints the response body
api() {
  curl -sf -X "$1" -H "Authorization: Bearer $admin" -H 'content-type: application/json' "$base$2" ${3:+-d "$3"}
}

# usage: new_show ROWS SEATS_PER_ROW: creates a concert and a show; prints the show id
new_show() {
  local concert
  concert=$(api POST /v1/admin/concerts '{"title":"Benchmark"}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')
  api POST "/v1/admin/concerts/$concert/shows" \
    "{\"starts_at\":\"2030-01-01T20:00:00Z\",\"sections\":[{\"name\":\"Floor\",\"rows\":$1,\"seats_per_row\":$2,\"price\":50}]}" |
    python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])'
}

# usage: wrk_run NAME wrk-args...: one wrk run of $secs seconds with $threads threads and
# $conns connections (the caller sets them), its output kept in $work/NAME.wrk; prints
# "NAME rps p50_ms p99_ms non2xx errors"
wrk_run() {
  local name=$1; shift
  local out; out=$(wrk -t "$threads" -c "$conns" -d "${secs}s" --latency "$@" 2>&1)
  echo "$out" >"$work/$name.wrk"
  local line; line=$(grep '^RESULT' <<<"$out")
  python3 - "$name" "$line" <<'PY'
import sys
name, line = sys.argv[1], sys.argv[2]
kv = dict(p.split("=") for p in line.split()[1:])
rps = int(kv["requests"]) / (int(kv["duration_us"]) / 1e6)
print(f'{name} {rps:.0f} {int(kv["p50_us"])/1000:.2f} {int(kv["p99_us"])/1000:.2f} {kv["non2xx"]} {kv["socket_errors"]}')
PY
}

# usage: metrics_snapshot FILE: saves /metrics, for a later server_p99 of what came after
metrics_snapshot() {
  curl -s "$base/metrics" >"$1"
}

# usage: server_p99 METHOD ROUTE [SNAPSHOT]: the p99 of that route as the service timed it,
# read off its latency histogram (so an upper bucket bound), over every request so far or,
# with a snapshot file, over the requests since it was taken; with `bases` (several
# instances' addresses), over all of their histograms summed,
# e.g. server_p99 POST /v1/shows/{show_id}/holds
server_p99() {
  local b
  for b in ${bases:-$base}; do curl -s "$b/metrics"; done | python3 -c '
import sys, re
method, route = sys.argv[1], sys.argv[2]
def buckets(lines):
    totals = {}
    for line in lines:
        m = re.match(r"boxoffice_http_request_duration_seconds_bucket\{(.*)\} (\S+)", line)
        if not m or f"method=\"{method}\"" not in m.group(1) or f"route=\"{route}\"" not in m.group(1):
            continue
        le = re.search(r"le=\"([^\"]+)\"", m.group(1)).group(1)
        le = float("inf") if le == "+Inf" else float(le)
        totals[le] = totals.get(le, 0) + float(m.group(2))
    return totals
now = buckets(sys.stdin)
before = buckets(open(sys.argv[3])) if len(sys.argv) > 3 else {}
totals = {le: n - before.get(le, 0) for le, n in now.items()}
edges = sorted(totals)
total = totals[edges[-1]] if edges else 0
p99 = next((le for le in edges if total and totals[le] >= 0.99 * total), float("nan"))
print(f"{method} {route}: p99 <= {p99 * 1000:g} ms in the service (over {int(total)} requests)")
' "$@"
}
