-- A delayed message a worker held until due goes to the back of its queue, only if it is still
-- in the delay queue's hash: an operator may have retried or killed it meanwhile. Atomic, so the
-- operator's action and the worker's promotion never both happen.
-- The promoted message leaves a wake-up token for an idle consumer (bounded list).
-- KEYS: delay queue msgs, queue msgs, queue list, wake list   ARGV: delayed id, new id, body, wake list cap
if redis.call('hdel', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('hset', KEYS[2], ARGV[2], ARGV[3])
redis.call('rpush', KEYS[3], ARGV[2])
redis.call('lpush', KEYS[4], 1)
redis.call('ltrim', KEYS[4], 0, tonumber(ARGV[4]) - 1)
return 1
