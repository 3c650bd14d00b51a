-- move_in.lua, the second step of a session's move between shards
-- (move.go): KEYS[1] room hash; ARGV[6] to ARGV[12] the join (as
-- join.lua's), ARGV[13] the number of record fields, then the fields
-- (name, value, ...) and the kept events, as move_out.lua gave them → as
-- join.lua. The session is recorded here, run by this node, unless it
-- already is (this step ran before: then its join is not repeated, and
-- {} is answered); a stub left here by an earlier move away gives way.
local id = ARGV[7]
local h = P .. 's:' .. id
local st = redis.call('HMGET', h, 'token', 'moving')
if not st[1] or st[2] then
  redis.call('DEL', h, P .. 'e:' .. id)
  local nf = tonumber(ARGV[13])
  local fields = {}
  for i = 14, 13 + 2 * nf do fields[#fields+1] = ARGV[i] end
  redis.call('HSET', h, 'owner', ME, 'room', '', unpack(fields))
  local events = {}
  for i = 14 + 2 * nf, #ARGV do events[#events+1] = ARGV[i] end
  if #events > 0 then redis.call('RPUSH', P .. 'e:' .. id, unpack(events)) end
  redis.call('SADD', P .. 'ns:' .. ME, id)
end
local refused = join(KEYS[1], ARGV[6], id, ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12])
if refused then return refused end
return flush()
