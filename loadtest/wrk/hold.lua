-- POST /v1/shows/{show}/holds, each request with a token of the thread's slice, round robin.
-- With a seat id as the fifth argument every request asks for that seat (a storm on one
-- seat); without it each token asks for its own seat, from the seats file (same lines).
-- Counts the answers by status and prints them with the result line.
-- usage: wrk ... -s hold.lua <url> -- <tokens file> <show id> <threads> <seats file> [seat]
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "tokens.lua")

local threads, counted_setup = {}, setup
function setup(thread)
  counted_setup(thread)
  threads[#threads + 1] = thread
end

function init(args)
  tokens = load_tokens(args[1], tonumber(args[3]))
  seats = load_tokens(args[4], tonumber(args[3]))
  contended = args[5]
  wrk.method = "POST"
  wrk.path = "/v1/shows/" .. args[2] .. "/holds"
  i, created, conflict, other = 0, 0, 0, 0
end

function request()
  i = i % #tokens + 1
  local headers = { ["Authorization"] = "Bearer " .. tokens[i], ["Content-Type"] = "application/json" }
  return wrk.format(nil, nil, headers, '{"seat_ids":[' .. (contended or seats[i]) .. ']}')
end

function response(status)
  if status == 201 then created = created + 1
  elseif status == 409 then conflict = conflict + 1
  else other = other + 1 end
end

local print_result = done
function done(summary, latency, requests)
  print_result(summary, latency, requests)
  local sums = { 0, 0, 0 }
  for _, t in ipairs(threads) do
    sums[1], sums[2], sums[3] = sums[1] + t:get("created"), sums[2] + t:get("conflict"), sums[3] + t:get("other")
  end
  io.write(string.format("STATUSES 201=%d 409=%d other=%d\n", sums[1], sums[2], sums[3]))
end
