-- A token bucket shared by every process, taken in one call and never polled (GCRA: the bucket is
-- the time its next slot is due). A caller either gets a slot, now or at a time it then sleeps
-- until, or is told exactly how long until the earliest one. Redis' clock is the only clock, so
-- workers on different hosts share one budget whatever their own clocks say.
-- KEYS: the bucket (the time the next slot is due once `burst` are spent, µs on Redis' clock)
-- ARGV: µs between slots (1e6 / rate), burst (slots that may go at once), the longest wait (µs)
--   the caller accepts for a slot, and how many slots it wants (optional, 1: a process takes one
--   for each of its threads waiting, so that they cost one call between them)
-- Returns {1, µs to wait until the first slot taken, its time (µs), then µs to wait until each
-- further slot taken} when at least one is taken (reserved: nobody else gets them), {0, µs until
-- the earliest slot, its time} when that is further away than the caller accepts (nothing taken).
local clock = redis.call('time')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local interval = tonumber(ARGV[1])
local due = math.max(tonumber(redis.call('get', KEYS[1])) or now, now)
local slot = math.max(now, due - (tonumber(ARGV[2]) - 1) * interval)
local wait = math.ceil(slot - now)
if wait > tonumber(ARGV[3]) then
  return {0, wait, math.floor(slot)}
end
due = due + interval
local result = {1, wait, math.floor(slot)}
for _ = 2, tonumber(ARGV[4] or 1) do
  local next_slot = math.max(now, due - (tonumber(ARGV[2]) - 1) * interval)
  local next_wait = math.ceil(next_slot - now)
  if next_wait > tonumber(ARGV[3]) then
    break
  end
  due = due + interval
  table.insert(result, next_wait)
end
-- '%.3f' keeps the due time exactly (a double's step at today's µs is 0.25); it expires once due,
-- when the bucket is full again.
redis.call('set', KEYS[1], string.format('%.3f', due), 'px', math.ceil((due - now) / 1000) + 1)
return result
