-- wrk script for abusive traffic: POSTs the body in the file $BODY_FILE (`{n}` becomes a
-- unique number), and when $KEYS_FILE names a file of API keys, sends the next one as
-- `x-api-key` with each request. Counts answers by status.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local function read(path)
  local file = assert(io.open(path, "rb"))
  local text = file:read("*a")
  file:close()
  return text
end

local template = read(os.getenv("BODY_FILE"))
local keys = {}
local keys_file = os.getenv("KEYS_FILE")
if keys_file and keys_file ~= "" then
  for line in io.lines(keys_file) do
    table.insert(keys, line)
  end
end

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  statuses = {}
end

function request()
  counter = counter + 1
  local body = string.gsub(template, "{n}", id .. "x" .. counter)
  local headers = nil
  if #keys > 0 then
    headers = {
      ["Content-Type"] = "application/json",
      ["x-api-key"] = keys[(counter % #keys) + 1],
    }
  end
  return wrk.format(nil, nil, headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses") or {}) do
      total[status] = (total[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(total) do
    table.insert(parts, status .. ":" .. count)
  end
  table.sort(parts)
  io.write(string.format("requests=%d rps=%.0f p99_ms=%.2f statuses=%s\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(99) / 1000, table.concat(parts, ",")))
end
