-- leave.lua: KEYS[1] room hash; ARGV[6] peer id, ARGV[7] the peer-left
-- frame → notes. A node that lost the session to another does nothing.
local h = P .. 's:' .. ARGV[6]
local owner = redis.call('HGET', h, 'owner')
if owner and owner ~= ME then return {} end
if redis.call('HDEL', KEYS[1], ARGV[6]) == 0 then return {} end
if owner then redis.call('HSET', h, 'room', '') end
for _, id in ipairs(redis.call('HKEYS', KEYS[1])) do append(id, ARGV[7]) end
return flush()
