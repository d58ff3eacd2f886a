-- Puts fetched, unacked messages back on their queue (as Dramatiq's "requeue" does), and wakes
-- an idle consumer if any went back. Returns how many went back.
-- KEYS: ack set, queue list, queue msgs, wake list   ARGV: wake list cap, redis ids...
local back = 0
for i = 2, #ARGV do
  if redis.call('srem', KEYS[1], ARGV[i]) > 0 and redis.call('hexists', KEYS[3], ARGV[i]) > 0 then
    redis.call('rpush', KEYS[2], ARGV[i])
    back = back + 1
  end
end
if back > 0 then
  redis.call('lpush', KEYS[4], 1)
  redis.call('ltrim', KEYS[4], 0, tonumber(ARGV[1]) - 1)
end
return back
