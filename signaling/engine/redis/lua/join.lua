-- join.lua: KEYS[1] room hash; ARGV[6] room, ARGV[7] peer id, ARGV[8]
-- PeerInfo JSON, ARGV[9] limit, ARGV[10] and ARGV[11] the joined frame
-- around its peer list, ARGV[12] the peer-joined frame → notes, or -1
-- when the room is full, -2 when the session is gone, {} when it is a
-- member already (lib.lua's join).
local refused = join(KEYS[1], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12])
if refused then return refused end
return flush()
