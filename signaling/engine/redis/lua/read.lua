-- read.lua: ARGV[6] id, ARGV[7] after, ARGV[8] max, ARGV[9] and ARGV[10]
-- the session's taken mark and ack waiting on its node (0: none), applied
-- first → {gap (0/1, -2 when the session is moving to another shard),
-- frames...}.
local st = redis.call('HMGET', P .. 's:' .. ARGV[6], 'next', 'first', 'moving')
if st[3] then return {-2} end
if not st[1] then return {1} end
marks(ARGV[6], tonumber(ARGV[9]), tonumber(ARGV[10]))
st = redis.call('HMGET', P .. 's:' .. ARGV[6], 'next', 'first')
local nxt, first, after = tonumber(st[1]), tonumber(st[2]), tonumber(ARGV[7])
if after + 1 < first then return {1} end
if after >= nxt then return {0} end
local i = after + 1 - first
local out = redis.call('LRANGE', P .. 'e:' .. ARGV[6], i, i + tonumber(ARGV[8]) - 1)
table.insert(out, 1, 0)
return out
