-- keep-alive workload (wrk's default): every connection sends GET <the URL's path> again and again on one
-- connection; done() prints the one JSON line of report.lua.
-- Usage: wrk -t2 -c50 -d10s -s loadtest/keepalive.lua http://127.0.0.1:8080/1k.html

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
