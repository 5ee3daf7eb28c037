-- wrk script for bench/http.py (wrk 4 with LuaJIT, e.g. Debian's `apt-get install wrk`).
--
--   wrk -t T -c C -d D --timeout 10s -s bench/http_wrk.lua URL -- MODE RUN SECONDS KEY...
--
-- MODE     bare | charge | me | batch
-- RUN      a tag that makes idempotency keys unique across runs
-- SECONDS  send requests for this long, then let every connection fall idle (delay()) so that
--          each request sent is answered before wrk stops: nothing is abandoned in flight,
--          and the 201s counted here can be matched against the charges in the database.
--          wrk's -d must be a little longer than SECONDS.
-- KEY...   API keys, used in turn (one key: one hot account); BATCH mode's first extra
--          argument is the number of charges per request.
--
-- done() prints one line `WRKJSON {...}` that bench/http.py reads.

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]])
local CLOCK_MONOTONIC = 1
local ts = ffi.new("bench_timespec")

local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local threads = {}
local counter = 0
tid = 0

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

-- Per-thread state (each wrk thread has its own Lua state). The counters are globals:
-- done() reads them from each thread with thread:get(), which sees globals only.
local mode, run, seconds, keys, batch_body
local expected = 200
local deadline = nil
t_first, t_last = 0, 0
sent, answered, ok, other, succeeded = 0, 0, 0, 0, 0
sample = ""

local CHARGE_BODY = '{"operation":"search_database","units":1}'

function init(args)
  mode = args[1]
  run = args[2]
  seconds = tonumber(args[3])
  keys = {}
  local first_key = 4
  if mode == "batch" then
    local size = tonumber(args[4])
    local items = {}
    for i = 1, size do
      items[i] = CHARGE_BODY
    end
    batch_body = '{"charges":[' .. table.concat(items, ",") .. "]}"
    first_key = 5
  end
  for i = first_key, #args do
    table.insert(keys, args[i])
  end
  if #keys == 0 then
    keys = { "none" }
  end
  counter = tid or 0
  if mode == "charge" then
    expected = 201
  end
end

function delay()
  if deadline ~= nil and now() >= deadline then
    return 3600000 -- idle for the rest of the run: wrk stops first
  end
  return 0
end

function request()
  local t = now()
  if deadline == nil then
    deadline = t + seconds
    t_first = t
  end
  sent = sent + 1
  counter = counter + 1
  local key = keys[(counter % #keys) + 1]
  local headers = { ["Authorization"] = "Token " .. key, ["Content-Type"] = "application/json" }
  if mode == "me" then
    return wrk.format("GET", "/api/v1/accounts/me/", headers, nil)
  elseif mode == "bare" then
    return wrk.format("POST", "/bare/", headers, CHARGE_BODY)
  elseif mode == "batch" then
    return wrk.format("POST", "/api/v1/charges/batch/", headers, batch_body)
  end
  headers["Idempotency-Key"] = run .. "-" .. tid .. "-" .. sent
  return wrk.format("POST", "/api/v1/charges/", headers, CHARGE_BODY)
end

function response(status, headers, body)
  t_last = now()
  answered = answered + 1
  if status == expected then
    ok = ok + 1
    if mode == "batch" then
      succeeded = succeeded + (tonumber(string.match(body, '"succeeded":(%d+)')) or 0)
    end
  else
    other = other + 1
    if sample == "" then
      sample = status .. " " .. string.sub(body or "", 1, 200)
    end
  end
end

function done(summary, latency, requests)
  local t0, t1 = math.huge, 0
  local totals = { sent = 0, answered = 0, ok = 0, other = 0, succeeded = 0 }
  local samples = ""
  for _, thread in ipairs(threads) do
    for name, _ in pairs(totals) do
      totals[name] = totals[name] + (thread:get(name) or 0)
    end
    local first, last = thread:get("t_first") or 0, thread:get("t_last") or 0
    if first > 0 and first < t0 then
      t0 = first
    end
    if last > t1 then
      t1 = last
    end
    local s = thread:get("sample") or ""
    if s ~= "" and samples == "" then
      samples = s
    end
  end
  local e = summary.errors
  local parts = {
    string.format('"sent":%d', totals.sent),
    string.format('"answered":%d', totals.answered),
    string.format('"ok":%d', totals.ok),
    string.format('"other":%d', totals.other),
    string.format('"succeeded":%d', totals.succeeded),
    string.format('"window_s":%.6f', (t1 > t0) and (t1 - t0) or 0),
    string.format('"requests":%d', summary.requests),
    string.format('"errors":[%d,%d,%d,%d,%d]', e.connect, e.read, e.write, e.status, e.timeout),
    string.format('"p50_us":%d', latency:percentile(50)),
    string.format('"p90_us":%d', latency:percentile(90)),
    string.format('"p99_us":%d', latency:percentile(99)),
    string.format('"max_us":%d', latency.max),
    string.format('"sample":"%s"', (samples:gsub('[%c"\\]', "?"))),
  }
  io.write("WRKJSON {" .. table.concat(parts, ",") .. "}\n")
end
