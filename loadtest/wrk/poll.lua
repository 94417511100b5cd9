-- GET /v1/shows/{show}/queue with queue tokens of users still waiting.
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "tokens.lua")

function init(args)
  tokens = load_tokens(args[1], tonumber(args[3]))
  wrk.method = "GET"
  wrk.path = "/v1/shows/" .. args[2] .. "/queue"
  i = 0
end

function request()
  i = i % #tokens + 1
  return wrk.format(nil, nil, { ["Authorization"] = "Bearer " .. tokens[i] })
end
