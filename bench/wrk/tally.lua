-- wrk scenarios of the Tally load benchmark: the closed-loop runs (fixed
-- concurrency, like pgbench -c 32 -j 2). bench/run.sh runs
--   wrk -t 2 -c VUS -d DURATION --latency --timeout 120s -s bench/wrk/tally.lua API
-- once per scenario; the open-loop runs use bench/k6/tally.js. The same
-- environment as tally.js: SCENARIO, KEY, CUSTOMERS, SEARCH_N, BATCH_SIZE,
-- IDEMPOTENCY, SUMMARY (a JSON summary in the same shape as tally.js writes).
local scenario = os.getenv("SCENARIO") or "transfers"
local key = os.getenv("KEY")
local searchN = tonumber(os.getenv("SEARCH_N") or "1000000")
local batchSize = tonumber(os.getenv("BATCH_SIZE") or "1000")
local idempotency = (os.getenv("IDEMPOTENCY") or "1") == "1"

local customers = {}
do
  local f = assert(io.open(os.getenv("CUSTOMERS")))
  for id in f:read("*a"):gmatch('"([^"]+)"') do customers[#customers + 1] = id end
  f:close()
end

-- Main state: number the threads, keep them to read their counters in done().
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  threads[#threads + 1] = thread
end

-- Thread state.
statuses = {}
local seq = 0
local batchBody, batchFrom

local function pick() return customers[math.random(#customers)] end

local function headers(profile, write)
  local h = { ["Authorization"] = "Bearer " .. key }
  if profile then h["X-BU-PROFILE-ID"] = profile end
  if write then
    h["Content-Type"] = "application/json"
    if idempotency then
      seq = seq + 1
      h["Idempotency-Key"] = string.format("bench-wrk-%d-%d-%d-%d", tid, seq, os.time(), math.random(1e9))
    end
  end
  return h
end

local function transfer()
  local from, to = pick(), pick()
  while to == from do to = pick() end
  return wrk.format("POST", "/v1/transfers", headers(from, true),
    '{"currency":"USD","amount":"0.01","to_profile_id":"' .. to .. '"}')
end

local payoutBody = '{"currency":"USD","amount":"1.00","network":"bank","address":"0123456789",' ..
  '"beneficiary":{"name":"Bench Beneficiary","institution":"Bench Bank","country":"US"},"reference":"bench"}'
local function payout() return wrk.format("POST", "/v1/payouts", headers(pick(), true), payoutBody) end

local function balances() return wrk.format("GET", "/v1/balances", headers(pick(), false)) end

local function search()
  return wrk.format("GET", string.format("/v1/customers?q=user%d%%40&limit=20", math.random(searchN)), headers(nil, false))
end

-- batch: like tally.js, sender v (one thread, one connection each: -t N -c N)
-- sends from customers[v] to its own slice of the others, so concurrent batches
-- share no balance row.
local function batch()
  if not batchBody then
    local senders = tonumber(os.getenv("VUS") or "2")
    local v = (tid - 1) % senders
    batchFrom = customers[v + 1]
    local group = {}
    for i = senders + v + 1, #customers, senders do group[#group + 1] = customers[i] end
    local items = {}
    for i = 0, batchSize - 1 do
      items[#items + 1] = '{"currency":"USD","amount":"0.01","to_profile_id":"' .. group[(i % #group) + 1] .. '"}'
    end
    batchBody = '{"transfers":[' .. table.concat(items, ",") .. '],"atomic":true}'
  end
  return wrk.format("POST", "/v1/transfers/batch", headers(batchFrom, true), batchBody)
end

function init(args)
  math.randomseed(os.time() * 1000 + tid * 7919)
end

function request()
  if scenario == "transfers" then return transfer()
  elseif scenario == "payouts" then return payout()
  elseif scenario == "balances" then return balances()
  elseif scenario == "search" then return search()
  elseif scenario == "batch" then return batch()
  elseif scenario == "mixed" then
    local r = math.random()
    if r < 0.7 then return balances() elseif r < 0.9 then return transfer() else return payout() end
  end
  error("unknown SCENARIO " .. scenario)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses")) do counts[code] = (counts[code] or 0) + n end
  end
  local codes, parts = {}, {}
  for code in pairs(counts) do codes[#codes + 1] = code end
  table.sort(codes)
  for _, code in ipairs(codes) do parts[#parts + 1] = string.format("%d×%d", code, counts[code]) end
  local e = summary.errors
  local socketErrors = e.connect + e.read + e.write + e.timeout
  if socketErrors > 0 then parts[#parts + 1] = string.format("0×%d", socketErrors) end
  local secs = summary.duration / 1e6
  local out = {
    scenario = scenario, mode = "closed", tool = "wrk", vus = tonumber(os.getenv("VUS") or "0"), rate = 0,
    duration_s = secs, requests = summary.requests, req_rate = summary.requests / secs,
    per_request = scenario == "batch" and batchSize or 1,
    p50_ms = latency:percentile(50) / 1000, p90_ms = latency:percentile(90) / 1000,
    p99_ms = latency:percentile(99) / 1000, max_ms = latency.max / 1000,
    failed = e.status + socketErrors, dropped = 0, statuses = table.concat(parts, " "),
  }
  local fields = {}
  for _, k in ipairs({ "scenario", "mode", "tool", "vus", "rate", "duration_s", "requests", "req_rate", "per_request",
    "p50_ms", "p90_ms", "p99_ms", "max_ms", "failed", "dropped", "statuses" }) do
    local v = out[k]
    if type(v) == "string" then v = string.format("%q", v)
    elseif v == math.floor(v) then v = string.format("%d", v)
    else v = string.format("%.3f", v) end
    fields[#fields + 1] = string.format('  "%s": %s', k, v)
  end
  local json = "{\n" .. table.concat(fields, ",\n") .. "\n}\n"
  local f = assert(io.open(os.getenv("SUMMARY") or "summary.json", "w"))
  f:write(json)
  f:close()
  io.write(string.format("%s/closed: %.1f req/s, p50 %.1f ms, p99 %.1f ms, failed %d, dropped 0 [%s]\n",
    scenario, out.req_rate, out.p50_ms, out.p99_ms, out.failed, out.statuses))
end
