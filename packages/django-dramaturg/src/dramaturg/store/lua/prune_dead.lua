-- Drops index entries (and previews) of letters the broker has expired: among a
-- batch of the group's entries between two scores, those whose body is gone.
-- Worker/command side only: pages never write.
-- KEYS: groups, group index, xq.msgs, previews   ARGV: group field, min score, cutoff (ms), batch size
-- Returns {pruned, checked, last score checked}.
local rows = redis.call('zrangebyscore', KEYS[2], ARGV[2], ARGV[3], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[4]))
local pruned, checked, last = 0, 0, ARGV[2]
for i = 1, #rows, 2 do
  local id = rows[i]
  checked = checked + 1
  last = rows[i + 1]
  if redis.call('hexists', KEYS[3], id) == 0 then
    redis.call('zrem', KEYS[2], id)
    redis.call('hdel', KEYS[4], id)
    pruned = pruned + 1
  end
end
if pruned > 0 and redis.call('hincrby', KEYS[1], ARGV[1], -pruned) <= 0 then
  redis.call('hdel', KEYS[1], ARGV[1])
end
return {pruned, checked, last}
