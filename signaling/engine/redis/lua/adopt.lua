-- adopt.lua: ARGV[6] id → {room}, nil when gone (or only moving away
-- from this shard). The node that ran the session hears 'm' (moved) and
-- lets it go.
local h = P .. 's:' .. ARGV[6]
local st = redis.call('HMGET', h, 'owner', 'room', 'moving')
if not st[1] or st[3] then return nil end
redis.call('HSET', h, 'owner', ME)
redis.call('SADD', P .. 'ns:' .. ME, ARGV[6])
if st[1] ~= ME then
  redis.call('SREM', P .. 'ns:' .. st[1], ARGV[6])
  redis.call('ZREM', P .. 'orphans', ARGV[6])
  note(st[1], 'm', ARGV[6])
end
flush()
return {st[2]}
