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

dofile("bench/wrk_result.lua")

function first_hint(status, headers, body)
   return string.sub(body or "", 1, 200)
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
