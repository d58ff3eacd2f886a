-- Puts one message on a queue and leaves a wake-up token for an idle consumer, in one step
-- (the token list is bounded: each token wakes one consumer, which then fetches a batch).
-- KEYS: queue list, queue msgs, wake list   ARGV: redis id, body, wake list cap
redis.call('hset', KEYS[2], ARGV[1], ARGV[2])
redis.call('rpush', KEYS[1], ARGV[1])
redis.call('lpush', KEYS[3], 1)
redis.call('ltrim', KEYS[3], 0, tonumber(ARGV[3]) - 1)
