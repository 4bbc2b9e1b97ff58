-- wrk script: POSTs the GraphQL body in $BODY with the bearer token in $TOKEN (or the
-- API key in $API_KEY), and counts
-- answers that are not a clean 200 (a 200 carrying "errors" is a failure too).
-- `{n}` in the body becomes a unique number, for mutations that create rows.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
local api_key = os.getenv("API_KEY")
if api_key and api_key ~= "" then
  wrk.headers["x-api-key"] = api_key
end
local template = os.getenv("BODY")

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  failures = 0
  counter = 0
end

function request()
  counter = counter + 1
  local body = string.gsub(template, "{n}", id .. "-" .. counter)
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    failures = failures + 1
  end
end

function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do
    failed = failed + (thread:get("failures") or 0)
  end
  io.write(string.format("requests=%d failed=%d rps=%.0f p50_ms=%.2f p99_ms=%.2f\n",
    summary.requests, failed, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
