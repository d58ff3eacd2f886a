-- Records finished messages in a ring of ARGV[2] hashes ("slots"), each holding up to ARGV[1]
-- entries: when the current slot is full, the next one is emptied and becomes current, so the
-- record keeps the newest ARGV[1] * (slots - 1) to ARGV[1] * slots entries. One write per call,
-- whatever the number of entries (workers publish once a second); nothing per job.
-- KEYS: meta hash (current slot, its count), slot key prefix
-- ARGV: per slot, slots, ttl s, the entries' (id, JSON) pieces end to end in one string, and the
-- pieces' sizes in bytes, comma-separated (two arguments, not two per entry: cheaper to send)
local per_slot, slots, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local pieces, from = {}, 1
for size in string.gmatch(ARGV[5], '%d+') do
  local to = from + tonumber(size)
  pieces[#pieces + 1] = string.sub(ARGV[4], from, to - 1)
  from = to
end
local slot = tonumber(redis.call('hget', KEYS[1], 'slot') or 0)
local count = tonumber(redis.call('hget', KEYS[1], 'count') or 0)
local i = 1
while i < #pieces do
  if count >= per_slot then
    slot = (slot + 1) % slots
    count = 0
    redis.call('del', KEYS[2] .. slot)
  end
  local room = per_slot - count
  local last = math.min(#pieces, i + 2 * math.min(room, 500) - 1)
  redis.call('hset', KEYS[2] .. slot, unpack(pieces, i, last))
  count = count + (last - i + 1) / 2
  i = last + 1
  redis.call('expire', KEYS[2] .. slot, ttl)
end
redis.call('hset', KEYS[1], 'slot', slot, 'count', count)
return count
