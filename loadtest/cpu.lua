-- CPU-bound workload: GET /cpu?us=N over keep-alive connections; the server's cpu handler burns N microseconds
-- of CPU before answering. The URL's path is used if it is not "/".
-- Usage: wrk -t2 -c50 -d10s -s loadtest/cpu.lua http://127.0.0.1:8080 -- us=1000

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")

init = function(args)
   local us = loadtest_arg(args, "us", "1000")
   if not us:match("^%d+$") then
      error("cpu.lua: us must be a whole number of microseconds, not '" .. us .. "'")
   end
   wrk.path = (wrk.path ~= "/" and wrk.path or "/cpu") .. "?us=" .. us
end
