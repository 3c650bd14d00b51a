-- resume.lua: ARGV[5] id, ARGV[6] after → {next, gap (0/1)}; nil when gone.
local h = P .. 's:' .. ARGV[5]
local st = redis.call('HMGET', h, 'next', 'first')
if not st[1] then return nil end
local nxt, first, after = tonumber(st[1]), tonumber(st[2]), tonumber(ARGV[6])
if after > nxt or after + 1 < first then return {nxt, 1} end
redis.call('HSET', h, 'taken', after)
marks(ARGV[5], 0, after)
return {nxt, 0}
