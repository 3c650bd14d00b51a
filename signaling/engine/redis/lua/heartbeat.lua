-- heartbeat.lua: ARGV[6] node TTL (ms), ARGV[7] grace (ms), ARGV[8] this
-- node's public URL, ARGV[9] and ARGV[10] the peer-left frame around the
-- id → {was this node listed (0/1), {live node, its URL, ...}, notes}.
-- It keeps this node listed,
-- hands the sessions of nodes past their TTL to orphans and ends the
-- orphans whose grace is over, a bounded batch per beat.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local listed = redis.call('ZSCORE', P .. 'nodes', ME) and 1 or 0
redis.call('ZADD', P .. 'nodes', now + tonumber(ARGV[6]), ME)
redis.call('HSET', P .. 'urls', ME, ARGV[8])
-- A dead node's set of sessions is renamed at once (O(1)) and handed to
-- orphans a bounded batch per beat: one script never holds Redis for
-- tens of thousands of sessions, which would make every other node's
-- heartbeat late. A node that comes back starts a new set.
for _, dead in ipairs(redis.call('ZRANGEBYSCORE', P .. 'nodes', '-inf', now, 'LIMIT', 0, 16)) do
  redis.call('ZREM', P .. 'nodes', dead)
  redis.call('HDEL', P .. 'urls', dead)
  local set = P .. 'ns:' .. dead
  if redis.call('EXISTS', set) == 1 then
    local gone = P .. 'gone:' .. dead .. ':' .. now
    redis.call('RENAME', set, gone)
    redis.call('HSET', P .. 'dying', gone, dead)
  end
end
local budget = 1024
for _, gone in ipairs(redis.call('HKEYS', P .. 'dying')) do
  if budget <= 0 then break end
  local dead = redis.call('HGET', P .. 'dying', gone)
  local ids = redis.call('SPOP', gone, budget)
  budget = budget - #ids
  for _, id in ipairs(ids) do
    local h = P .. 's:' .. id
    if redis.call('HGET', h, 'owner') == dead then
      redis.call('HSET', h, 'owner', '')
      redis.call('ZADD', P .. 'orphans', now + tonumber(ARGV[7]), id)
    end
  end
  if redis.call('EXISTS', gone) == 0 then redis.call('HDEL', P .. 'dying', gone) end
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'orphans', '-inf', now, 'LIMIT', 0, 256)) do
  redis.call('ZREM', P .. 'orphans', id)
  local h = P .. 's:' .. id
  local st = redis.call('HMGET', h, 'owner', 'room')
  if st[1] == '' then
    if st[2] and st[2] ~= '' then
      local room = P .. 'r:' .. st[2]
      redis.call('HDEL', room, id)
      for _, peer in ipairs(redis.call('HKEYS', room)) do append(peer, ARGV[9] .. id .. ARGV[10]) end
    end
    redis.call('DEL', h, P .. 'e:' .. id)
  end
end
local live = {}
for _, node in ipairs(redis.call('ZRANGEBYSCORE', P .. 'nodes', now, '+inf')) do
  live[#live+1] = node
  live[#live+1] = redis.call('HGET', P .. 'urls', node) or ''
end
return {listed, live, flush()}
