-- wrk script for bench/ingest.py: replays pre-generated realistic page views (user agent,
-- X-Forwarded-For, JSON body) with a fresh view id per request, and counts 202 answers. A body with
-- @@LASTVIEWID@@ instead (a custom event) gets the id of the view this thread sent last.
-- args: path, events file (ua \t xff \t body with @@VIEWID@@ or @@LASTVIEWID@@), view-id prefix (6 chars)
local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
  table.insert(threads, thread)
end

-- Globals, not locals: done() reads them from each thread with thread:get().
events = {}
sent, accepted, rejected = 0, 0, 0

function init(args)
  path = args[1]
  prefix = args[3]
  for line in io.lines(args[2]) do
    local ua, xff, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
    table.insert(events, { ua = ua, xff = xff, body = body })
  end
  cursor = (tid * 7919) % #events
end

function request()
  sent = sent + 1
  cursor = cursor % #events + 1
  local e = events[cursor]
  local view_id = string.format("%s%02d%014d", prefix, tid, sent)
  local body
  if last_view_id and e.body:find("@@LASTVIEWID@@", 1, true) then
    body = e.body:gsub("@@LASTVIEWID@@", last_view_id, 1)
  else
    body = e.body:gsub("@@VIEWID@@", view_id, 1):gsub("@@LASTVIEWID@@", view_id, 1)
    last_view_id = view_id
  end
  return wrk.format("POST", path, {
    ["Content-Type"] = "text/plain;charset=UTF-8",
    ["User-Agent"] = e.ua,
    ["X-Forwarded-For"] = e.xff,
  }, body)
end

function response(status, headers, body)
  if status == 202 then accepted = accepted + 1 else rejected = rejected + 1 end
end

function done(summary, latency, requests)
  local s, a, r = 0, 0, 0
  for _, t in ipairs(threads) do
    s = s + t:get("sent")
    a = a + t:get("accepted")
    r = r + t:get("rejected")
  end
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "sent": %d, "accepted": %d, "rejected": %d, ' ..
    '"socket_errors": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, s, a, r,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
