-- An operator deletes ready messages: each only if it is still in the queue's list (a worker that
-- fetched it already runs it; the message stays). Returns the bodies of those deleted (what they owed
-- is cancelled by the caller).
-- KEYS: queue list, queue msgs
-- ARGV: redis ids
local bodies = {}
for _, id in ipairs(ARGV) do
  if redis.call('lrem', KEYS[1], 1, id) > 0 then
    bodies[#bodies + 1] = redis.call('hget', KEYS[2], id) or ''
    redis.call('hdel', KEYS[2], id)
  end
end
return bodies
