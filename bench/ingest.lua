-- wrk script for bench/run.py: POST /v1/audit/events with batches of LB_BATCH (100) fresh
-- events (unique UUIDs per thread, run and batch), as a host does when it flushes its log.
local batch = tonumber(os.getenv("LB_BATCH") or "100")
local tok = os.getenv("LB_TOKEN")
local run = tonumber(os.getenv("LB_RUN") or "1")
local counter = 0
local tid = 0
local nthreads = 0

function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
end

function init(args)
  tid = tonumber(tid) or 0
end

local now = os.date("!%Y-%m-%dT%H:%M:%S.000Z")

function request()
  local parts = {}
  for i = 1, batch do
    counter = counter + 1
    local id = string.format("%08x-%04x-4%03x-8%03x-%012x", run % 0xffffffff, tid,
                             math.floor(counter / 0x1000000000000) % 0x1000, 0,
                             counter % 0x1000000000000)
    parts[i] = '{"id":"' .. id .. '","time":"' .. now ..
      '","type":"session.start","actor":"root","details":{"user":"root","service":"sshd","n":"' ..
      counter .. '"}}'
  end
  local body = '{"events":[' .. table.concat(parts, ",") .. ']}'
  return wrk.format("POST", "/v1/audit/events",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. tok}, body)
end
