-- A sliding-window log rate limit in one round trip: at most ARGV[3] hits in any
-- ARGV[2] ms. Unlike a fixed window, no boundary lets twice the limit through.
-- Only allowed hits are logged, so a client over the limit frees up as its
-- oldest hit ages out.
-- KEYS: the log (a sorted set of hits by time in ms)
-- ARGV: now (ms), window (ms), limit, a member unique to this hit
-- Returns {1, 0} when allowed, {0, ms until the oldest hit leaves the window} when not.
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('zremrangebyscore', KEYS[1], '-inf', now - window)
if redis.call('zcard', KEYS[1]) < limit then
  redis.call('zadd', KEYS[1], now, ARGV[4])
  redis.call('pexpire', KEYS[1], window)
  return {1, 0}
end
local oldest = redis.call('zrange', KEYS[1], 0, 0, 'WITHSCORES')
if oldest[2] == nil then return {0, window} end  -- a limit of 0 allows nothing
return {0, math.max(tonumber(oldest[2]) + window - now, 1)}
