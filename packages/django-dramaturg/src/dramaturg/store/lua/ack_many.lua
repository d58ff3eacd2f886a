-- Acks a batch of processed messages (as Dramatiq's "ack" does for one), and records the worker's
-- heartbeat when the caller says one is due (once a second, not once per ack).
-- KEYS: ack set, queue msgs, heartbeats   ARGV: worker id, heartbeat time (ms) or '', redis ids...
if ARGV[2] ~= '' then
  redis.call('zadd', KEYS[3], ARGV[2], ARGV[1])
end
local acked = 0
for i = 3, #ARGV do
  if redis.call('srem', KEYS[1], ARGV[i]) > 0 then
    redis.call('hdel', KEYS[2], ARGV[i])
    acked = acked + 1
  end
end
return acked
