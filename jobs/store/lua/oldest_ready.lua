-- For each queue, when its longest-waiting ready message became ready (ms), or 0 if none:
-- among the first ARGV[1] ids of the list (the front is fetched first; operators' requeues go
-- there too), the earliest of each body's latest readiness time (enqueued, requeued, retried).
-- KEYS: (queue list, queue msgs) pairs   ARGV: how many ids to look at per queue
local depth = tonumber(ARGV[1])
local result = {}
for k = 1, #KEYS, 2 do
  local oldest = 0
  local ids = redis.call('lrange', KEYS[k], 0, depth - 1)
  for _, id in ipairs(ids) do
    local body = redis.call('hget', KEYS[k + 1], id)
    if body then
      local ready = tonumber(string.match(body, '"message_timestamp":(%d+)') or 0)
      for _, name in ipairs({'requeued_at', 'ready_at'}) do
        local at = tonumber(string.match(body, '"' .. name .. '":(%d+)') or 0)
        if at > ready then ready = at end
      end
      if ready > 0 and (oldest == 0 or ready < oldest) then oldest = ready end
    end
  end
  result[#result + 1] = oldest
end
return result
