-- read.lua: ARGV[5] id, ARGV[6] after, ARGV[7] max, ARGV[8] and ARGV[9]
-- the session's taken mark and ack waiting on its node (0: none), applied
-- first → {gap (0/1), frames...}.
marks(ARGV[5], tonumber(ARGV[8]), tonumber(ARGV[9]))
local st = redis.call('HMGET', P .. 's:' .. ARGV[5], 'next', 'first')
if not st[1] then return {1} end
local nxt, first, after = tonumber(st[1]), tonumber(st[2]), tonumber(ARGV[6])
if after + 1 < first then return {1} end
if after >= nxt then return {0} end
local i = after + 1 - first
local out = redis.call('LRANGE', P .. 'e:' .. ARGV[5], i, i + tonumber(ARGV[7]) - 1)
table.insert(out, 1, 0)
return out
