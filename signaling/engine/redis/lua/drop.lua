-- drop.lua: ARGV[6] id. Only the node running the session drops it: a
-- node that lost it to another does nothing.
local h = P .. 's:' .. ARGV[6]
if redis.call('HGET', h, 'owner') ~= ME then return 0 end
redis.call('DEL', h, P .. 'e:' .. ARGV[6])
redis.call('SREM', P .. 'ns:' .. ME, ARGV[6])
return 1
