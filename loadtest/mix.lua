-- Mix of file sizes over keep-alive connections: GET <the URL's path><size>.bin for each size of the mix, in
-- proportion to its weight, spread evenly (smooth weighted round robin, so every run sends the same sequence).
-- loadtest/compare creates the files (1k.bin is 1024 bytes, 1m.bin 1048576) under /mix/ in its docroot.
-- Usage: wrk -t2 -c50 -d10s -s loadtest/mix.lua http://127.0.0.1:8080/mix/ -- mix=1k:40,10k:30,100k:20,1m:10

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")

local requests = {}
local next_request = 0

init = function(args)
   local spec = loadtest_arg(args, "mix", "1k:40,10k:30,100k:20,1m:10")
   local names, weights, credit, total = {}, {}, {}, 0
   for item in spec:gmatch("[^,]+") do
      local name, weight = item:match("^%s*(%d+[kKmM]?)%s*:%s*(%d+)%s*$")
      if name == nil or tonumber(weight) == 0 then
         error("mix.lua: bad mix item '" .. item .. "' (expected SIZE:WEIGHT, e.g. 10k:30)")
      end
      names[#names + 1], weights[#weights + 1], credit[#credit + 1] = name:lower(), tonumber(weight), 0
      total = total + tonumber(weight)
   end
   if total == 0 then
      error("mix.lua: empty mix")
   end
   local prefix = wrk.path:sub(-1) == "/" and wrk.path or wrk.path .. "/"
   -- each turn every size earns its weight and the one with the most credit is sent and pays the total
   for i = 1, total do
      local best = 1
      for j = 1, #names do
         credit[j] = credit[j] + weights[j]
         if credit[j] > credit[best] then
            best = j
         end
      end
      credit[best] = credit[best] - total
      requests[i] = wrk.format(nil, prefix .. names[best] .. ".bin")
   end
end

request = function()
   next_request = next_request % #requests + 1
   return requests[next_request]
end
