-- report.lua - wrk's summary as one JSON line on stdout (latency in µs),
-- for tests/bench/bench.py. Loaded after the request script, if any.
done = function(summary, latency, requests)
   local p = function(q) return latency:percentile(q) end
   io.write(string.format(
      'WRKJSON {"requests":%d,"duration_us":%d,"errors_status":%d,"errors_connect":%d,' ..
      '"errors_read":%d,"errors_write":%d,"errors_timeout":%d,"p50_us":%d,"p90_us":%d,' ..
      '"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f}\n',
      summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
      summary.errors.read, summary.errors.write, summary.errors.timeout,
      p(50), p(90), p(99), p(99.9), latency.max, latency.mean))
end
