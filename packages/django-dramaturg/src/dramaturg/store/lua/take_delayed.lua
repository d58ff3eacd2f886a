-- An operator's action on a delayed message (a retry waiting for its time): 'retry' puts it at the
-- front of its queue now, 'kill' files it in the dead-letter set (group, preview, totals, as
-- record_dead.lua), 'delete' drops it. Returns 0 if it is no longer delayed (its time came, or another operator was first).
-- A retried message leaves a wake-up token for an idle consumer (bounded list).
-- KEYS: dq list, dq msgs, queue list, queue msgs, xq, xq msgs, groups, group index, totals, previews, wake list
-- ARGV: id, 'retry', 'kill' or 'delete', new body, group field, preview, now (ms), wake list cap
if redis.call('hdel', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('lrem', KEYS[1], 1, ARGV[1])
if ARGV[2] == 'retry' then
  redis.call('hset', KEYS[4], ARGV[1], ARGV[3])
  redis.call('lpush', KEYS[3], ARGV[1])
  redis.call('lpush', KEYS[11], 1)
  redis.call('ltrim', KEYS[11], 0, tonumber(ARGV[7]) - 1)
elseif ARGV[2] == 'kill' then
  redis.call('zadd', KEYS[5], ARGV[6], ARGV[1])
  redis.call('hset', KEYS[6], ARGV[1], ARGV[3])
  redis.call('hset', KEYS[10], ARGV[1], ARGV[5])
  if redis.call('zadd', KEYS[8], ARGV[6], ARGV[1]) == 1 then
    redis.call('hincrby', KEYS[7], ARGV[4], 1)
    redis.call('hincrby', KEYS[9], 'dead', 1)
  end
end
return 1
