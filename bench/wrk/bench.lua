-- NewsRead benchmark helper for wrk (see bench/README.md).
--
-- * If NR_WRK_BODY is set, every request is a form POST with that body (the login scenario);
--   the request stays static, so wrk builds it once and the Lua costs nothing per request.
-- * After wrk's own report, prints one machine-readable line, `BENCHJSON {...}`, with exact
--   counts and latency percentiles in microseconds, which bench/run parses.
local body = os.getenv("NR_WRK_BODY")
if body ~= nil and body ~= "" then
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,' ..
    '"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f,' ..
    '"mean_us":%.1f,"stdev_us":%.1f,"min_us":%.0f,"max_us":%.0f,' ..
    '"p50_us":%.0f,"p75_us":%.0f,"p90_us":%.0f,"p99_us":%.0f,"p999_us":%.0f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.min, latency.max,
    latency:percentile(50), latency:percentile(75), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end
