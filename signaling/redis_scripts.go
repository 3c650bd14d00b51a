package signaling

import "github.com/redis/go-redis/v9"

// The Redis engine's scripts. Each runs atomically in Redis, which is what
// keeps the ordering guarantees of docs/protocol.md across nodes: a join
// appends peer-joined to every member's log and joined to the newcomer's
// in one step, exactly as the in-memory router does under its lock.
//
// Every script takes ARGV[1] key prefix, ARGV[2] this node's id,
// ARGV[3] and ARGV[4] the replay bounds (events, bytes); its own
// arguments follow. Keys (see docs/cluster.md), all under the prefix:
//
//	s:<id>    hash: token, owner node, room, next seq, taken, bytes, first kept seq
//	e:<id>    list: the kept frames, seq first..next
//	t:<token> string: the session id
//	r:<room>  hash: member id → PeerInfo JSON
//	ns:<node> set: the sessions a node runs
//	nodes     sorted set: live node ids, scored by when they expire (ms, Redis clock)
//	urls      hash: node id → its public URL
//	orphans   sorted set: sessions of dead nodes, scored by when their grace ends
//	n:<node>  pub/sub channel: notices for the sessions a node runs
//
// Every key but the pub/sub channels has an owner that deletes it: a
// session's node drops s:, e: and t: when it ends; a room's hash
// disappears with its last member; and when a node stops heartbeating,
// the first live node to notice hands its sessions to orphans, and ends
// those whose grace runs out as their own node would (peer-left, drop).
const luaLib = `
local P, ME = ARGV[1], ARGV[2]
local MAXEV, MAXB = tonumber(ARGV[3]), tonumber(ARGV[4])
local local_notes, remote = {}, {}

-- note tells a session's node that its log changed: 'w' (wake) or 'f'
-- (full: the session ends as a slow consumer). Notes for this node are
-- returned, the others published, one message per node.
local function note(owner, kind, id)
  if owner == ME then
    local_notes[#local_notes+1] = kind .. id
  elseif owner and owner ~= '' then
    remote[owner] = (remote[owner] or '') .. ' ' .. kind .. id
  end
end

local function flush()
  for owner, msg in pairs(remote) do
    redis.call('PUBLISH', P .. 'n:' .. owner, msg)
  end
  return local_notes
end

-- append mirrors memoryLog.Append: taken events make room, oldest first;
-- untaken ones are never dropped. It returns the new seq, -1 when the log
-- is full, 0 when the session is gone.
local function append(id, frame)
  local h = P .. 's:' .. id
  local st = redis.call('HMGET', h, 'next', 'taken', 'bytes', 'first', 'owner')
  if not st[1] then return 0 end
  local nxt, taken, bytes, first = tonumber(st[1]), tonumber(st[2]), tonumber(st[3]), tonumber(st[4])
  local l = P .. 'e:' .. id
  local full = #frame > MAXB
  while not full and nxt >= first and (nxt - first + 1 >= MAXEV or bytes + #frame > MAXB) do
    if first > taken then
      full = true
    else
      bytes = bytes - #redis.call('LPOP', l)
      first = first + 1
    end
  end
  if full then
    redis.call('HSET', h, 'bytes', bytes, 'first', first)
    note(st[5], 'f', id)
    return -1
  end
  nxt = nxt + 1
  redis.call('RPUSH', l, frame)
  redis.call('HSET', h, 'next', nxt, 'bytes', bytes + #frame, 'first', first)
  note(st[5], 'w', id)
  return nxt
end

-- take raises a session's taken mark to seq, capped at its newest event.
-- A node keeps the mark back and sends it with its next read, ack or
-- append on the log: one round trip fewer per write (docs/cluster.md).
local function take(id, seq)
  if seq == 0 then return end
  local h = P .. 's:' .. id
  local st = redis.call('HMGET', h, 'next', 'taken')
  if not st[1] then return end
  local t = math.min(seq, tonumber(st[1]))
  if t > tonumber(st[2]) then redis.call('HSET', h, 'taken', t) end
end

-- ack drops the kept events up to seq.
local function ack(id, seq)
  local h = P .. 's:' .. id
  local st = redis.call('HMGET', h, 'next', 'bytes', 'first')
  if not st[1] then return end
  local nxt, bytes, first = tonumber(st[1]), tonumber(st[2]), tonumber(st[3])
  local l = P .. 'e:' .. id
  while first <= seq and first <= nxt do
    bytes = bytes - #redis.call('LPOP', l)
    first = first + 1
  end
  redis.call('HSET', h, 'bytes', bytes, 'first', first)
end
`

// scriptAppend: ARGV[5] session id, ARGV[6] frame, ARGV[7] taken mark
// (0: none) → seq, -1 full, 0 gone.
var scriptAppend = redis.NewScript(luaLib + `
take(ARGV[5], tonumber(ARGV[7]))
local seq = append(ARGV[5], ARGV[6])
flush()
return seq
`)

// scriptResume: ARGV[5] id, ARGV[6] after → {next, gap (0/1)}; nil when gone.
var scriptResume = redis.NewScript(luaLib + `
local h = P .. 's:' .. ARGV[5]
local st = redis.call('HMGET', h, 'next', 'first')
if not st[1] then return nil end
local nxt, first, after = tonumber(st[1]), tonumber(st[2]), tonumber(ARGV[6])
if after > nxt or after + 1 < first then return {nxt, 1} end
redis.call('HSET', h, 'taken', after)
ack(ARGV[5], after)
return {nxt, 0}
`)

// scriptRead: ARGV[5] id, ARGV[6] after, ARGV[7] max, ARGV[8] taken mark
// (0: none) → {gap (0/1), frames...}.
var scriptRead = redis.NewScript(luaLib + `
take(ARGV[5], tonumber(ARGV[8]))
local st = redis.call('HMGET', P .. 's:' .. ARGV[5], 'next', 'first')
if not st[1] then return {1} end
local nxt, first, after = tonumber(st[1]), tonumber(st[2]), tonumber(ARGV[6])
if after + 1 < first then return {1} end
if after >= nxt then return {0} end
local i = after + 1 - first
local out = redis.call('LRANGE', P .. 'e:' .. ARGV[5], i, i + tonumber(ARGV[7]) - 1)
table.insert(out, 1, 0)
return out
`)

// scriptAck: ARGV[5] id, ARGV[6] seq, ARGV[7] taken mark (0: none);
// capped at the taken mark, which it returns.
var scriptAck = redis.NewScript(luaLib + `
take(ARGV[5], tonumber(ARGV[7]))
local taken = redis.call('HGET', P .. 's:' .. ARGV[5], 'taken')
if not taken then return 0 end
local upto = math.min(tonumber(ARGV[6]), tonumber(taken))
ack(ARGV[5], upto)
return upto
`)

// scriptFind: ARGV[5] token → session id, or nil.
var scriptFind = redis.NewScript(luaLib + `
local id = redis.call('GET', P .. 't:' .. ARGV[5])
if not id or redis.call('EXISTS', P .. 's:' .. id) == 0 then return nil end
return id
`)

// scriptCreate: ARGV[5] id, ARGV[6] token.
var scriptCreate = redis.NewScript(luaLib + `
redis.call('HSET', P .. 's:' .. ARGV[5], 'token', ARGV[6], 'owner', ME, 'room', '',
  'next', 0, 'taken', 0, 'bytes', 0, 'first', 1)
redis.call('SET', P .. 't:' .. ARGV[6], ARGV[5])
redis.call('SADD', P .. 'ns:' .. ME, ARGV[5])
return 1
`)

// scriptAdopt: ARGV[5] id → {room}, nil when gone. The node that ran the
// session hears 'm' (moved) and lets it go.
var scriptAdopt = redis.NewScript(luaLib + `
local h = P .. 's:' .. ARGV[5]
local st = redis.call('HMGET', h, 'owner', 'room')
if not st[1] then return nil end
redis.call('HSET', h, 'owner', ME)
redis.call('SADD', P .. 'ns:' .. ME, ARGV[5])
if st[1] ~= ME then
  redis.call('SREM', P .. 'ns:' .. st[1], ARGV[5])
  redis.call('ZREM', P .. 'orphans', ARGV[5])
  note(st[1], 'm', ARGV[5])
end
flush()
return {st[2]}
`)

// scriptDrop: ARGV[5] id. Only the node running the session drops it: a
// node that lost it to another does nothing.
var scriptDrop = redis.NewScript(luaLib + `
local h = P .. 's:' .. ARGV[5]
if redis.call('HGET', h, 'owner') ~= ME then return 0 end
local token = redis.call('HGET', h, 'token')
redis.call('DEL', h, P .. 'e:' .. ARGV[5], P .. 't:' .. token)
redis.call('SREM', P .. 'ns:' .. ME, ARGV[5])
return 1
`)

// scriptJoin: KEYS[1] room hash; ARGV[5] room, ARGV[6] peer id, ARGV[7]
// PeerInfo JSON, ARGV[8] limit, ARGV[9] and ARGV[10] the joined frame
// around its peer list, ARGV[11] the peer-joined frame → notes, or -1
// when the room is full, -2 when the session is gone.
var scriptJoin = redis.NewScript(luaLib + `
local members = redis.call('HGETALL', KEYS[1])
if #members / 2 >= tonumber(ARGV[8]) then return -1 end
if redis.call('EXISTS', P .. 's:' .. ARGV[6]) == 0 then return -2 end
local peers = {}
for i = 1, #members, 2 do
  append(members[i], ARGV[11])
  peers[#peers+1] = members[i+1]
end
append(ARGV[6], ARGV[9] .. table.concat(peers, ',') .. ARGV[10])
redis.call('HSET', KEYS[1], ARGV[6], ARGV[7])
redis.call('HSET', P .. 's:' .. ARGV[6], 'room', ARGV[5])
return flush()
`)

// scriptLeave: KEYS[1] room hash; ARGV[5] peer id, ARGV[6] the peer-left
// frame → notes. A node that lost the session to another does nothing.
var scriptLeave = redis.NewScript(luaLib + `
local h = P .. 's:' .. ARGV[5]
local owner = redis.call('HGET', h, 'owner')
if owner and owner ~= ME then return {} end
if redis.call('HDEL', KEYS[1], ARGV[5]) == 0 then return {} end
if owner then redis.call('HSET', h, 'room', '') end
for _, id in ipairs(redis.call('HKEYS', KEYS[1])) do append(id, ARGV[6]) end
return flush()
`)

// scriptSend: KEYS[1] room hash; ARGV[5] from, ARGV[6] to (” for all
// but from), ARGV[7] frame → notes, or -1 when "to" is no other member.
var scriptSend = redis.NewScript(luaLib + `
local from, to = ARGV[5], ARGV[6]
if to == '' then
  for _, id in ipairs(redis.call('HKEYS', KEYS[1])) do
    if id ~= from then append(id, ARGV[7]) end
  end
elseif to == from or redis.call('HEXISTS', KEYS[1], to) == 0 then
  return -1
else
  append(to, ARGV[7])
end
return flush()
`)

// scriptHeartbeat: ARGV[5] node TTL (ms), ARGV[6] grace (ms), ARGV[7] this
// node's public URL, ARGV[8] and ARGV[9] the peer-left frame around the
// id → {was this node listed (0/1), {live node, its URL, ...}, notes...}.
// It keeps this node listed,
// hands the sessions of nodes past their TTL to orphans and ends the
// orphans whose grace is over, a bounded batch per beat.
var scriptHeartbeat = redis.NewScript(luaLib + `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local listed = redis.call('ZSCORE', P .. 'nodes', ME) and 1 or 0
redis.call('ZADD', P .. 'nodes', now + tonumber(ARGV[5]), ME)
redis.call('HSET', P .. 'urls', ME, ARGV[7])
for _, dead in ipairs(redis.call('ZRANGEBYSCORE', P .. 'nodes', '-inf', now, 'LIMIT', 0, 16)) do
  redis.call('ZREM', P .. 'nodes', dead)
  redis.call('HDEL', P .. 'urls', dead)
  for _, id in ipairs(redis.call('SMEMBERS', P .. 'ns:' .. dead)) do
    local h = P .. 's:' .. id
    if redis.call('HGET', h, 'owner') == dead then
      redis.call('HSET', h, 'owner', '')
      redis.call('ZADD', P .. 'orphans', now + tonumber(ARGV[6]), id)
    end
  end
  redis.call('DEL', P .. 'ns:' .. dead)
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'orphans', '-inf', now, 'LIMIT', 0, 256)) do
  redis.call('ZREM', P .. 'orphans', id)
  local h = P .. 's:' .. id
  local st = redis.call('HMGET', h, 'owner', 'room', 'token')
  if st[1] == '' then
    if st[2] and st[2] ~= '' then
      local room = P .. 'r:' .. st[2]
      redis.call('HDEL', room, id)
      for _, peer in ipairs(redis.call('HKEYS', room)) do append(peer, ARGV[8] .. id .. ARGV[9]) end
    end
    redis.call('DEL', h, P .. 'e:' .. id, P .. 't:' .. st[3])
  end
end
local live = {}
for _, node in ipairs(redis.call('ZRANGEBYSCORE', P .. 'nodes', now, '+inf')) do
  live[#live+1] = node
  live[#live+1] = redis.call('HGET', P .. 'urls', node) or ''
end
local notes = flush()
table.insert(notes, 1, live)
table.insert(notes, 1, listed)
return notes
`)

// scriptHandOver: ARGV[5] grace (ms). A node that stops on purpose hands
// its sessions to orphans at once, as the others would after its death,
// and leaves the list of nodes: its clients resume elsewhere.
var scriptHandOver = redis.NewScript(luaLib + `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, id in ipairs(redis.call('SMEMBERS', P .. 'ns:' .. ME)) do
  local h = P .. 's:' .. id
  if redis.call('HGET', h, 'owner') == ME then
    redis.call('HSET', h, 'owner', '')
    redis.call('ZADD', P .. 'orphans', now + tonumber(ARGV[5]), id)
  end
end
redis.call('DEL', P .. 'ns:' .. ME)
redis.call('ZREM', P .. 'nodes', ME)
redis.call('HDEL', P .. 'urls', ME)
return 1
`)
