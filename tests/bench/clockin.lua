-- clockin.lua - wrk drives POST /api/v1/clockins with a different worker
-- (bearer token) on every request and a fresh request_id each time.
-- Tokens come from the file named by $GY_TOKENS (one per line); each of
-- wrk's threads takes every Nth token so no two threads share a worker.
-- Each worker's request head is built once in init: wrk runs on the same
-- two cores as gongyoud, so what its Lua spends per request is taken from
-- the server (wrk.format builds a table and five strings every time).
local heads = {}
local counter = 0
local threads = {}

setup = function(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

init = function(args)
   local nthreads = tonumber(os.getenv("GY_WRK_THREADS") or "2")
   local host = wrk.headers["Host"] or (wrk.host .. ":" .. wrk.port)
   local i = 0
   for line in io.lines(os.getenv("GY_TOKENS")) do
      if i % nthreads == id then
         table.insert(heads, "POST /api/v1/clockins HTTP/1.1\r\nHost: " .. host ..
                      "\r\nContent-Type: application/json\r\nAuthorization: Bearer " .. line ..
                      "\r\nContent-Length: ")
      end
      i = i + 1
   end
   math.randomseed(1000 + id)
end

request = function()
   counter = counter + 1
   local body = '{"lat":31.2304,"lng":121.4737,"accuracy":15,"request_id":"b' .. id .. "-" .. counter .. '"}'
   return heads[(counter % #heads) + 1] .. #body .. "\r\n\r\n" .. body
end
