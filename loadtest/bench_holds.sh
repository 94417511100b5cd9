#!/usr/bin/env bash
# Hold storm: 10,000 active users request the same seat at once (exactly one may win; the
# p99 each client saw is printed), then holds/s on distinct seats. Starts a fresh cluster
# and a release build of the service, and stops them at the end.
#
# usage: loadtest/bench_holds.sh [users, default 10000]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ulimit -n 65536 2>/dev/null || true
start_service holds --example hold_storm
./target/release/examples/hold_storm "$base" "$admin" "${1:-10000}"
server_p99=$(curl -s "$base/metrics" | python3 -c '
import sys, re
buckets = []
for line in sys.stdin:
    m = re.match(r"boxoffice_http_request_duration_seconds_bucket\{(.*)\} (\S+)", line)
    if m and "/holds\"" in m.group(1) and "method=\"POST\"" in m.group(1):
        le = re.search(r"le=\"([^\"]+)\"", m.group(1)).group(1)
        buckets.append((float("inf") if le == "+Inf" else float(le), float(m.group(2))))
totals = {}
for le, count in buckets:
    totals[le] = totals.get(le, 0) + count
edges = sorted(totals)
total = totals[edges[-1]] if edges else 0
p99 = next((le for le in edges if total and totals[le] >= 0.99 * total), float("nan"))
print(f"{p99 * 1000:.1f} ms (upper bucket bound, over {int(total)} POST /holds)")
')
echo "server-side p99 of POST /holds (time in the service, from its histogram): <= $server_p99"
