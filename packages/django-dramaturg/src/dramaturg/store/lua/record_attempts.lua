-- Records failed attempts, each appended to its message's list (the newest ARGV[1] kept), the list
-- expiring ARGV[2] seconds after its last failure: what one RPUSH, LTRIM and EXPIRE per failure did,
-- in one command for a publish's worth.
-- KEYS: one attempts list per failure; ARGV: the most kept, the TTL (s), then one record per key
local keep, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  redis.call('rpush', key, ARGV[i + 2])
  redis.call('ltrim', key, -keep, -1)
  redis.call('expire', key, ttl)
end
return #KEYS
