-- Connection: close workload: every request carries `Connection: close`, so the server closes after answering
-- and wrk opens a new connection for the next one (a TCP handshake and an accept() per request).
-- Usage: wrk -t2 -c50 -d10s -s loadtest/close.lua http://127.0.0.1:8080/1k.html

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")

wrk.headers["Connection"] = "close"
