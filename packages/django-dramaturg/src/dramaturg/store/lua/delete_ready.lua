-- An operator deletes ready messages: each only if it is still in the queue's list (a worker that
-- fetched it already runs it; the message stays). Returns how many were deleted.
-- KEYS: queue list, queue msgs
-- ARGV: redis ids
local n = 0
for _, id in ipairs(ARGV) do
  if redis.call('lrem', KEYS[1], 1, id) > 0 then
    redis.call('hdel', KEYS[2], id)
    n = n + 1
  end
end
return n
