-- resume.lua: ARGV[6] id, ARGV[7] after → {next, gap (0/1, -2 when the
-- session is moving to another shard), applied}; nil when gone.
local h = P .. 's:' .. ARGV[6]
local st = redis.call('HMGET', h, 'next', 'first', 'moving', 'up')
if not st[1] then return nil end
local up = tonumber(st[4] or 0)
if st[3] then return {0, -2, up} end
local nxt, first, after = tonumber(st[1]), tonumber(st[2]), tonumber(ARGV[7])
if after > nxt or after + 1 < first then return {nxt, 1, up} end
redis.call('HSET', h, 'taken', after)
marks(ARGV[6], 0, after)
return {nxt, 0, up}
