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

dofile("bench/wrk_result.lua")

function first_hint(status, headers, body)
   return tostring(headers["Location"] or headers["location"] or "")
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
