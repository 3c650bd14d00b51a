-- hand_over.lua: ARGV[6] grace (ms). A node that stops on purpose hands
-- its sessions to orphans at once, as the others would after its death,
-- and leaves the list of nodes: its clients resume elsewhere.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, id in ipairs(redis.call('SMEMBERS', P .. 'ns:' .. ME)) do
  local h = P .. 's:' .. id
  if redis.call('HGET', h, 'owner') == ME then
    redis.call('HSET', h, 'owner', '')
    redis.call('ZADD', P .. 'orphans', now + tonumber(ARGV[6]), id)
  end
end
redis.call('DEL', P .. 'ns:' .. ME)
redis.call('ZREM', P .. 'nodes', ME)
redis.call('HDEL', P .. 'urls', ME)
return 1
