-- Shared by the wrk scripts: each thread takes every Nth token of a file (its own slice,
-- so no two threads send the same token), and done() prints one machine-readable line.
-- usage: wrk -t <threads> ... -s <script>.lua <url> -- <tokens file> <show id[,show id...]> <threads>
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function load_tokens(path, threads)
  local mine, n = {}, 0
  for line in io.lines(path) do
    if n % threads == id then mine[#mine + 1] = line end
    n = n + 1
  end
  return mine
end

function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_us=%d non2xx=%d socket_errors=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end

-- Defines init() and request() for the queue endpoint of a show, or of several shows in
-- turn (a comma-separated list of ids): `method` with a token of the thread's slice per
-- request, round robin, plus `headers`.
function queue_requests(method, headers)
  function init(args)
    tokens = load_tokens(args[1], tonumber(args[3]))
    wrk.method = method
    paths = {}
    for show in string.gmatch(args[2], "[^,]+") do paths[#paths + 1] = "/v1/shows/" .. show .. "/queue" end
    i = 0
  end

  function request()
    i = i % #tokens + 1
    headers["Authorization"] = "Bearer " .. tokens[i]
    return wrk.format(nil, paths[i % #paths + 1], headers)
  end
end
