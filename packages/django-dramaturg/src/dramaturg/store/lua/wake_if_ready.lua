-- Wakes an idle consumer if its queue holds ready messages (after maintenance put a dead
-- worker's messages back, which Dramatiq's script does without a wake-up token).
-- KEYS: queue list, wake list   ARGV: wake list cap
if redis.call('llen', KEYS[1]) > 0 then
  redis.call('lpush', KEYS[2], 1)
  redis.call('ltrim', KEYS[2], 0, tonumber(ARGV[1]) - 1)
  return 1
end
return 0
