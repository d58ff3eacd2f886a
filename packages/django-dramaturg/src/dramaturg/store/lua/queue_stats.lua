-- Counts of each queue, and (ARGV[1] > 0) when its longest-waiting ready message became ready:
-- as oldest_ready.lua, among the first ARGV[1] ids of its list. Only reads.
-- KEYS: (queue list, queue msgs, delay queue msgs, dead-letter zset) per queue   ARGV: depth
-- Returns, per queue: ready, stored (ready + in flight), delayed, dead, oldest ready ms (0: none)
local depth = tonumber(ARGV[1])
local later_fields = {'"requeued_at":(%d+)', '"ready_at":(%d+)'}
local result = {}
for k = 1, #KEYS, 4 do
  local ready = redis.call('llen', KEYS[k])
  result[#result + 1] = ready
  result[#result + 1] = redis.call('hlen', KEYS[k + 1])
  result[#result + 1] = redis.call('hlen', KEYS[k + 2])
  result[#result + 1] = redis.call('zcard', KEYS[k + 3])
  local oldest = 0
  if depth > 0 and ready > 0 then
    local ids = redis.call('lrange', KEYS[k], 0, depth - 1)
    for _, id in ipairs(ids) do
      local body = redis.call('hget', KEYS[k + 1], id)
      if body then
        local at = tonumber(string.match(body, '"message_timestamp":(%d+)') or 0)
        for i = 1, 2 do
          local later = tonumber(string.match(body, later_fields[i]) or 0)
          if later > at then at = later end
        end
        if at > 0 and (oldest == 0 or at < oldest) then oldest = at end
      end
    end
  end
  result[#result + 1] = oldest
end
return result
