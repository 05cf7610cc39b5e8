-- I/O-bound workload: GET /delay?ms=N over keep-alive connections; the server's delay handler answers after N
-- milliseconds without using CPU (a slow database or upstream). The URL's path is used if it is not "/".
-- Usage: wrk -t2 -c200 -d10s -s loadtest/delay.lua http://127.0.0.1:8080 -- ms=100

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")

init = function(args)
   local ms = loadtest_arg(args, "ms", "100")
   if not ms:match("^%d+$") then
      error("delay.lua: ms must be a whole number of milliseconds, not '" .. ms .. "'")
   end
   wrk.path = (wrk.path ~= "/" and wrk.path or "/delay") .. "?ms=" .. ms
end
