-- wrk reporting script: at the end of a run, prints one JSON line with throughput, latency percentiles (µs),
-- errors by kind and the count of non-2xx/3xx responses, so no tool has to parse wrk's text output.
-- Usage: wrk -t1 -c50 -d10s -s loadtest/report.lua http://127.0.0.1:8080/1k.html
-- The workload scripts (keepalive, close, mix, delay, cpu .lua) load this file for done() and loadtest_arg().

done = function(summary, latency, requests)
   local secs = summary.duration / 1e6
   local e = summary.errors
   io.write(string.format(
      '{"requests":%d,"duration_s":%.3f,"rps":%.1f,"bytes":%d,' ..
      '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d},' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"non2xx":%d}\n',
      summary.requests, secs, summary.requests / secs, summary.bytes,
      latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      e.connect, e.read, e.write, e.timeout, e.status))
end

-- The value of a NAME=VALUE argument given to wrk after `--`, or default.
loadtest_arg = function(args, name, default)
   for _, arg in pairs(args or {}) do
      local k, v = tostring(arg):match("^([%w_]+)=(.*)$")
      if k == name then
         return v
      end
   end
   return default
end
