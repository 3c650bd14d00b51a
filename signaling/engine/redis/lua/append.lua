-- append.lua: ARGV[5] session id, ARGV[6] frame, ARGV[7] taken mark
-- (0: none) → seq, -1 full, 0 gone.
take(ARGV[5], tonumber(ARGV[7]))
local seq = append(ARGV[5], ARGV[6])
flush()
return seq
