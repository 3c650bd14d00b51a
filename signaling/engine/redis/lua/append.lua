-- append.lua: ARGV[6] session id, ARGV[7] frame, ARGV[8] and ARGV[9]
-- the session's taken mark and ack waiting on its node (0: none), applied
-- first → {seq, notes}: seq -1 when the log is full, 0 when the session
-- is gone, -2 when it is moving to another shard (move.go).
if redis.call('HEXISTS', P .. 's:' .. ARGV[6], 'moving') == 1 then return {-2, {}} end
marks(ARGV[6], tonumber(ARGV[8]), tonumber(ARGV[9]))
local seq = append(ARGV[6], ARGV[7])
return {seq, flush()}
