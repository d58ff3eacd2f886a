-- Nacks a fetched message and files it as a dead letter, in one call: what Dramatiq's "nack" does
-- (out of the worker's ack set, its body moved to the dead-letter set) and what record_dead.lua
-- does (the body enriched with its reason and traceback, its group, its preview), and the worker's
-- heartbeat when the caller says one is due. Returns 1, or 0 if the message was no longer in the
-- worker's hands (nacked already, or put back by maintenance): then nothing is written.
-- KEYS: acks, queue msgs, xq, xq.msgs, groups, group index, totals, previews, heartbeats
-- ARGV: id, now (ms), enriched body, group field, preview, worker id, heartbeat time (ms) or ''
if ARGV[7] ~= '' then
  redis.call('zadd', KEYS[9], ARGV[7], ARGV[6])
end
if redis.call('srem', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('hdel', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('zadd', KEYS[3], ARGV[2], ARGV[1])
redis.call('hset', KEYS[4], ARGV[1], ARGV[3])
redis.call('hset', KEYS[8], ARGV[1], ARGV[5])
if redis.call('zadd', KEYS[6], ARGV[2], ARGV[1]) == 1 then
  redis.call('hincrby', KEYS[5], ARGV[4], 1)
  redis.call('hincrby', KEYS[7], 'dead', 1)
end
return 1
