-- move_done.lua, the last step of a session's move between shards
-- (move.go): ARGV[6] session id, ARGV[7] the shard it moved to → 1 when
-- the stub it left here is deleted, 0 when there is none.
local h = P .. 's:' .. ARGV[6]
local st = redis.call('HMGET', h, 'moving', 'owner')
if st[1] ~= ARGV[7] then return 0 end
redis.call('DEL', h, P .. 'e:' .. ARGV[6])
if st[2] and st[2] ~= '' then redis.call('SREM', P .. 'ns:' .. st[2], ARGV[6]) end
redis.call('ZREM', P .. 'orphans', ARGV[6])
return 1
