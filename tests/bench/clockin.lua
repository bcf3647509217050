-- clockin.lua - wrk drives POST /api/v1/clockins with a different worker
-- (bearer token) on every request and a fresh request_id each time.
-- Tokens come from the file named by $GY_TOKENS (one per line); each of
-- wrk's threads takes every Nth token so no two threads share a worker.
local tokens = {}
local counter = 0
local threads = {}

setup = function(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

init = function(args)
   local nthreads = tonumber(os.getenv("GY_WRK_THREADS") or "2")
   local i = 0
   for line in io.lines(os.getenv("GY_TOKENS")) do
      if i % nthreads == id then
         table.insert(tokens, line)
      end
      i = i + 1
   end
   math.randomseed(1000 + id)
end

request = function()
   counter = counter + 1
   local tok = tokens[(counter % #tokens) + 1]
   local body = string.format(
      '{"lat":31.2304,"lng":121.4737,"accuracy":15,"request_id":"b%d-%d"}', id, counter)
   return wrk.format("POST", "/api/v1/clockins",
                     {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. tok},
                     body)
end
