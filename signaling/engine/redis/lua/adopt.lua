-- adopt.lua: ARGV[5] id → {room}, nil when gone. The node that ran the
-- session hears 'm' (moved) and lets it go.
local h = P .. 's:' .. ARGV[5]
local st = redis.call('HMGET', h, 'owner', 'room')
if not st[1] then return nil end
redis.call('HSET', h, 'owner', ME)
redis.call('SADD', P .. 'ns:' .. ME, ARGV[5])
if st[1] ~= ME then
  redis.call('SREM', P .. 'ns:' .. st[1], ARGV[5])
  redis.call('ZREM', P .. 'orphans', ARGV[5])
  note(st[1], 'm', ARGV[5])
end
flush()
return {st[2]}
