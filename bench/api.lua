-- wrk script for bench/load.sh: Customer API calls.
--
--   wrk -t2 -c16 -d10s --latency -s bench/api.lua http://127.0.0.1:18080/api/Customer/getKeys -- KEY_FILE BODY
--
-- KEY_FILE holds one API key secret per line; the requests take them in turn (each thread
-- starts at a different one). Every request is `POST` to the URL's path with BODY as its
-- JSON arguments and `Authorization: Bearer <key>`. Every response that is not 200 is
-- counted, and at the end one machine-readable line is printed:
--
--   RESULT requests=… seconds=… rps=… p50_us=… p90_us=… p99_us=… max_us=… non200=… socket_errors=…

local threads = {}
local thread_count = 0

function setup(thread)
   thread:set("id", thread_count)
   thread_count = thread_count + 1
   table.insert(threads, thread)
end

function init(args)
   non200 = 0
   first_bad = ""
   if args[1] == nil or args[2] == nil then
      error("usage: wrk ... -s api.lua URL -- KEY_FILE BODY")
   end
   requests = {}
   for line in io.lines(args[1]) do
      if line ~= "" then
         table.insert(requests, wrk.format("POST", wrk.path, {
            ["Authorization"] = "Bearer " .. line,
            ["Content-Type"] = "application/json",
         }, args[2]))
      end
   end
   if #requests == 0 then
      error("no keys in " .. args[1])
   end
   next_request = (id or 0) % #requests
end

function request()
   next_request = next_request % #requests + 1
   return requests[next_request]
end

function response(status, headers, body)
   if status ~= 200 then
      non200 = non200 + 1
      if first_bad == "" then
         first_bad = tostring(status) .. " " .. string.sub(body or "", 1, 200)
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
