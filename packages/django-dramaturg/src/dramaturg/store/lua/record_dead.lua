-- Files a message the broker has just dead-lettered: stores its enriched body,
-- adds it to its (queue, actor, exception) group and keeps a small preview for
-- list pages. No-op if an operator already requeued or deleted it.
-- KEYS: xq, xq.msgs, groups, group index, totals, previews   ARGV: id, body, group field, preview
local score = redis.call('zscore', KEYS[1], ARGV[1])
if not score or redis.call('hexists', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('hset', KEYS[2], ARGV[1], ARGV[2])
redis.call('hset', KEYS[6], ARGV[1], ARGV[4])
if redis.call('zadd', KEYS[4], score, ARGV[1]) == 1 then
  redis.call('hincrby', KEYS[3], ARGV[3], 1)
  redis.call('hincrby', KEYS[5], 'dead', 1)
end
return 1
