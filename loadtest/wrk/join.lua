-- POST /v1/shows/{show}/queue with a new user token per request (a fresh join each time
-- until the file runs out; then the same users join again, which is idempotent).
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "tokens.lua")
queue_requests("POST", { ["Content-Length"] = "0" })
