-- Records finished messages and keeps only the newest ARGV[1] of them, none older than ARGV[2] (ms).
-- KEYS: recent (zset id -> finished ms), recent data (hash id -> JSON)
-- ARGV: limit, oldest allowed ms, then (id, finished ms, JSON) triples
local limit = tonumber(ARGV[1])
for i = 3, #ARGV, 3 do
  redis.call('zadd', KEYS[1], ARGV[i + 1], ARGV[i])
  redis.call('hset', KEYS[2], ARGV[i], ARGV[i + 2])
end
local function drop(ids)
  if #ids > 0 then
    for i = 1, #ids, 1000 do
      local chunk = {}
      for j = i, math.min(i + 999, #ids) do chunk[#chunk + 1] = ids[j] end
      redis.call('zrem', KEYS[1], unpack(chunk))
      redis.call('hdel', KEYS[2], unpack(chunk))
    end
  end
end
drop(redis.call('zrangebyscore', KEYS[1], '-inf', '(' .. ARGV[2]))
local excess = redis.call('zcard', KEYS[1]) - limit
if excess > 0 then drop(redis.call('zrange', KEYS[1], 0, excess - 1)) end
return excess
