-- Takes one message out of the dead-letter set (and its group and preview);
-- with a body, puts it back at the front of its queue. Returns 0 if it was
-- already gone (another operator was first). A requeued message leaves a wake-up token
-- for an idle consumer (bounded list).
-- KEYS: xq, xq.msgs, groups, group index, queue list, queue msgs, previews, wake list
-- ARGV: id, group field, body or '', wake list cap
local was_dead = redis.call('zrem', KEYS[1], ARGV[1])
redis.call('hdel', KEYS[2], ARGV[1])
redis.call('hdel', KEYS[7], ARGV[1])
if redis.call('zrem', KEYS[4], ARGV[1]) == 1 then
  if redis.call('hincrby', KEYS[3], ARGV[2], -1) <= 0 then redis.call('hdel', KEYS[3], ARGV[2]) end
end
if was_dead == 0 then return 0 end
if ARGV[3] ~= '' then
  redis.call('hset', KEYS[6], ARGV[1], ARGV[3])
  redis.call('lpush', KEYS[5], ARGV[1])
  redis.call('lpush', KEYS[8], 1)
  redis.call('ltrim', KEYS[8], 0, tonumber(ARGV[4]) - 1)
end
return 1
