-- A plain GET (the bare-endpoint reference), with the same result line as the others.
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "tokens.lua")
