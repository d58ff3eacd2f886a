-- Moves a fetched message that cannot be decoded or run from a worker's ack set to the
-- dead-letter set, as the broker's nack would, with an envelope that keeps the raw body.
-- KEYS: acks, queue msgs, xq, xq.msgs   ARGV: id, envelope, now (ms)
if redis.call('srem', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('hdel', KEYS[2], ARGV[1])
redis.call('zadd', KEYS[3], ARGV[3], ARGV[1])
redis.call('hset', KEYS[4], ARGV[1], ARGV[2])
return 1
