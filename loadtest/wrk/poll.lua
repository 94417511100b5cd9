-- GET /v1/shows/{show}/queue with queue tokens of users still waiting.
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "tokens.lua")
queue_requests("GET", {})
