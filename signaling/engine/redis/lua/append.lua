-- append.lua: ARGV[5] session id, ARGV[6] frame, ARGV[7] and ARGV[8]
-- the session's taken mark and ack waiting on its node (0: none), applied
-- first → {seq, notes}: seq -1 when the log is full, 0 when the session
-- is gone.
marks(ARGV[5], tonumber(ARGV[7]), tonumber(ARGV[8]))
local seq = append(ARGV[5], ARGV[6])
return {seq, flush()}
