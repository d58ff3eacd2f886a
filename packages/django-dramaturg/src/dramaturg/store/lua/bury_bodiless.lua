-- Dead-letters an id a worker fetched whose body is missing, as the broker's nack would.
-- KEYS: acks, queue msgs, xq, xq.msgs   ARGV: id, envelope, now (ms)
if redis.call('hexists', KEYS[2], ARGV[1]) == 1 then return 0 end
if redis.call('srem', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('zadd', KEYS[3], ARGV[3], ARGV[1])
redis.call('hset', KEYS[4], ARGV[1], ARGV[2])
return 1
