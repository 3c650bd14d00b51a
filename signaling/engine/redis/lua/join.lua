-- join.lua: KEYS[1] room hash; ARGV[5] room, ARGV[6] peer id, ARGV[7]
-- PeerInfo JSON, ARGV[8] limit, ARGV[9] and ARGV[10] the joined frame
-- around its peer list, ARGV[11] the peer-joined frame → notes, or -1
-- when the room is full, -2 when the session is gone. A member's value is
-- the limit it joined with, a space, its PeerInfo JSON: the room keeps
-- the smallest.
local members = redis.call('HGETALL', KEYS[1])
local limit = tonumber(ARGV[8])
local peers = {}
for i = 2, #members, 2 do
  local cap, info = string.match(members[i], '^(%d+) (.*)$')
  if cap then limit = math.min(limit, tonumber(cap)) else info = members[i] end
  peers[#peers+1] = info
end
if #peers >= limit then return -1 end
if redis.call('EXISTS', P .. 's:' .. ARGV[6]) == 0 then return -2 end
for i = 1, #members, 2 do append(members[i], ARGV[11]) end
append(ARGV[6], ARGV[9] .. table.concat(peers, ',') .. ARGV[10])
redis.call('HSET', KEYS[1], ARGV[6], ARGV[8] .. ' ' .. ARGV[7])
redis.call('HSET', P .. 's:' .. ARGV[6], 'room', ARGV[5])
return flush()
