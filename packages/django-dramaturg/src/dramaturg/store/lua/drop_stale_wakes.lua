-- Drops a queue's wake-up tokens while the queue holds no message: a burst that one consumer fetched
-- whole leaves up to the cap of them, each of which would wake another idle consumer for an empty
-- fetch. A token pushed with a message that is still on the queue is kept.
-- KEYS: queue list, wake list
if redis.call('llen', KEYS[1]) == 0 then
  return redis.call('del', KEYS[2])
end
return 0
