-- An operator clears a queue: takes up to ARGV[1] ids off the front of its list and drops their
-- bodies, at once (a worker never fetches an id whose body is gone). Messages a worker fetched
-- already are not in the list and are left to finish. Returns the bodies dropped (what they owed is
-- cancelled by the caller).
-- KEYS: queue list, queue msgs
local ids = redis.call('lrange', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #ids == 0 then return {} end
local bodies = redis.call('hmget', KEYS[2], unpack(ids))
redis.call('ltrim', KEYS[1], #ids, -1)
redis.call('hdel', KEYS[2], unpack(ids))
for i = 1, #bodies do
  if not bodies[i] then bodies[i] = '' end
end
return bodies
