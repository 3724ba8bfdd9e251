-- What bench/signed_in.lua and bench/api.lua share (loaded with dofile; wrk runs from the
-- repository's root): each thread's id, counting every response that is not 200 (with the
-- first one's status and a hint), and the machine-readable line printed at the end:
--
--   RESULT requests=… seconds=… rps=… p50_us=… p90_us=… p99_us=… max_us=… non200=… socket_errors=…
--
-- A script that loads it sets `first_hint(status, headers, body)` to say what to show of
-- the first response that is not 200.

local threads = {}
local thread_count = 0

function setup(thread)
   thread:set("id", thread_count)
   thread_count = thread_count + 1
   table.insert(threads, thread)
end

function response(status, headers, body)
   if status ~= 200 then
      non200 = non200 + 1
      if first_bad == "" then
         first_bad = tostring(status) .. " " .. first_hint(status, headers, body)
      end
   end
end

function done(summary, latency, requests_)
   local bad = 0
   local example = ""
   for _, thread in ipairs(threads) do
      bad = bad + thread:get("non200")
      local first = thread:get("first_bad")
      if example == "" and first ~= nil and first ~= "" then
         example = first
      end
   end
   local e = summary.errors
   local socket_errors = e.connect + e.read + e.write + e.timeout
   local seconds = summary.duration / 1e6
   io.write(string.format(
      "RESULT requests=%d seconds=%.2f rps=%.0f p50_us=%d p90_us=%d p99_us=%d max_us=%d non200=%d socket_errors=%d\n",
      summary.requests, seconds, summary.requests / seconds,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      bad, socket_errors))
   if example ~= "" then
      io.write("FIRST_NON200 " .. example .. "\n")
   end
end
