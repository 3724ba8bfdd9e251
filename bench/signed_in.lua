-- wrk script for bench/load.sh: signed-in GET requests.
--
--   wrk -t2 -c16 -d10s --latency -s bench/signed_in.lua http://127.0.0.1:18080/ -- COOKIE_FILE [PATH_FILE]
--
-- COOKIE_FILE holds one `berth_session` cookie value per line (one signed-in session
-- each); the requests take them in turn (each thread starts at a different one), so with
-- one line every request uses the same session. The request path is the URL's path, or,
-- when PATH_FILE is given, each of its lines in turn (e.g. /sites/3, /sites/13, …): the
-- requests then rotate through every (session, path) pair.
--
-- Every response that is not 200 is counted (a redirect to /login would make the figures
-- meaningless), and at the end one machine-readable line is printed:
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
   local file = args[1]
   if file == nil then
      error("usage: wrk ... -s signed_in.lua URL -- COOKIE_FILE")
   end
   local paths = {}
   if args[2] ~= nil then
      for line in io.lines(args[2]) do
         if line ~= "" then
            table.insert(paths, line)
         end
      end
      if #paths == 0 then
         error("no paths in " .. args[2])
      end
   else
      paths = { wrk.path }
   end
   requests = {}
   for line in io.lines(file) do
      if line ~= "" then
         for _, path in ipairs(paths) do
            table.insert(requests, wrk.format("GET", path, { ["Cookie"] = "berth_session=" .. line }))
         end
      end
   end
   if #requests == 0 then
      error("no session cookies in " .. file)
   end
   -- `id` is set by setup() before init() runs in the thread.
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
         first_bad = tostring(status) .. " " .. tostring(headers["Location"] or headers["location"] or "")
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
