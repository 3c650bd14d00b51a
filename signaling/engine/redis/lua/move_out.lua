-- move_out.lua, the first step of a session's move to another shard
-- (move.go): ARGV[6] session id, ARGV[7] the shard it moves to, ARGV[8]
-- to ARGV[14] the join it moves for (room, peer id, PeerInfo JSON,
-- limit, the joined frame's halves, peer-joined), kept here so that any
-- node can finish the move → {fields, events, join}: the record's fields
-- (name, value, ...; owner, room and the move's own left out), its kept
-- events, and the join kept; or nil when the session is gone, -1 when
-- another node runs it, -3 when it is still in a room here. Once marked,
-- the session is only a stub here: no script appends to it, and running
-- this again answers the same.
local h = P .. 's:' .. ARGV[6]
local st = redis.call('HMGET', h, 'owner', 'room', 'moving')
if not st[1] then return nil end
if not st[3] then
  if st[1] ~= ME then return -1 end
  if st[2] ~= '' then return -3 end
  redis.call('HSET', h, 'moving', ARGV[7], 'mv_room', ARGV[8], 'mv_id', ARGV[9], 'mv_info', ARGV[10],
    'mv_limit', ARGV[11], 'mv_pre', ARGV[12], 'mv_post', ARGV[13], 'mv_announce', ARGV[14])
end
local all = redis.call('HGETALL', h)
local fields, kept = {}, {}
for i = 1, #all, 2 do
  local k = all[i]
  if k == 'owner' or k == 'room' or k == 'moving' then
  elseif string.sub(k, 1, 3) == 'mv_' then
    kept[k] = all[i+1]
  else
    fields[#fields+1] = k
    fields[#fields+1] = all[i+1]
  end
end
local join = {kept.mv_room, kept.mv_id, kept.mv_info, kept.mv_limit, kept.mv_pre, kept.mv_post, kept.mv_announce}
return {fields, redis.call('LRANGE', P .. 'e:' .. ARGV[6], 0, -1), join}
