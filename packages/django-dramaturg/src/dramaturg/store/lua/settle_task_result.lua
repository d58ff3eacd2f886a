-- Ends one attempt of a django.tasks result: status, the attempt's error, the return value,
-- the finish time (set once per run) and the TTL of its three keys. Returns 1 when this call
-- finished the result (so task_finished is sent once), else 0.
-- KEYS: hash, workers list, errors list
-- ARGV: status, now ms, error JSON ('' none), return JSON ('' none), ttl s, only if unfinished (1/0), final (1/0)
if redis.call('exists', KEYS[1]) == 0 then return 0 end
if ARGV[6] == '1' and redis.call('hexists', KEYS[1], 'finished_ms') == 1 then return 0 end
if ARGV[3] ~= '' then redis.call('rpush', KEYS[3], ARGV[3]) end
redis.call('hset', KEYS[1], 'status', ARGV[1])
if ARGV[4] ~= '' then redis.call('hset', KEYS[1], 'return_value', ARGV[4]) end
local finished = 0
if ARGV[7] == '1' then finished = redis.call('hsetnx', KEYS[1], 'finished_ms', ARGV[2]) end
for i = 1, 3 do redis.call('expire', KEYS[i], ARGV[5]) end
return finished
