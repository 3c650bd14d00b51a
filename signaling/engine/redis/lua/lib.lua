-- Shared by every script: loaded in front of each one (scripts.go).
-- ARGV[5] is the command that publishes notes: SPUBLISH on a Redis
-- Cluster (the channel is in the keys' slot, so a note stays on one
-- shard instead of crossing the cluster bus), PUBLISH elsewhere.
local P, ME, PUB = ARGV[1], ARGV[2], ARGV[5]
local MAXEV, MAXB = tonumber(ARGV[3]), tonumber(ARGV[4])
local local_notes, remote = {h = {}, b = {}}, {}

-- note tells a session's node about it: 'd' (delivered: the event's seq
-- and frame follow, so that the node need not read it back), 'q' (a
-- request another node forwards: its id and body follow), 'f' (full:
-- the session ends as a slow consumer) or 'm' (moved to another node).
-- A note is the kind letter, the session id and a space; 'd' and 'q'
-- notes then have a tag (the seq, the request id), a space, the body's
-- length and a space, and their body follows as a message (or list
-- entry) of its own: concatenated, it would be a new Lua string, which
-- Redis's Lua hashes byte by byte (about 2 µs per 1.5 KB frame).
-- Notes for this node are returned as a list, the others published in
-- order, headers gathered until a body comes (notes.go reads both).
local function note(owner, kind, id, tag, body)
  local t
  if owner == ME then
    t = local_notes
  elseif owner and owner ~= '' then
    t = remote[owner]
    if not t then t = {h = {}, b = {}}; remote[owner] = t end
  else
    return
  end
  local n = #t.h + 1
  if tag then
    t.h[n], t.b[n] = kind .. id .. ' ' .. tag .. ' ' .. #body .. ' ', body
  else
    t.h[n], t.b[n] = kind .. id .. ' ', false
  end
end

-- flush publishes the notes for other nodes, small headers together up
-- to and with the first whose body follows, then that body alone, and
-- returns the notes for this node as such messages, in a list.
local function flush()
  for owner, t in pairs(remote) do
    local ch, from = P .. 'n:' .. owner, 1
    for i = 1, #t.h do
      if t.b[i] or i == #t.h then
        redis.call(PUB, ch, table.concat(t.h, '', from, i))
        if t.b[i] then redis.call(PUB, ch, t.b[i]) end
        from = i + 1
      end
    end
  end
  local out = {}
  for i = 1, #local_notes.h do
    out[#out+1] = local_notes.h[i]
    if local_notes.b[i] then out[#out+1] = local_notes.b[i] end
  end
  return out
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
  note(st[5], 'd', id, nxt, frame)
  return nxt
end

-- marks applies a node's taken mark (raised to seq, capped at the newest
-- event) and ack (the kept events up to it are dropped, capped at the
-- taken mark) for one session; 0 means none; and applied, when given,
-- the client's last frame handled ('up', only raised). A node sends them
-- in batches (marks.lua): one call for many sessions' marks.
local function marks(id, taken, acked, applied)
  local h = P .. 's:' .. id
  local st = redis.call('HMGET', h, 'next', 'taken', 'bytes', 'first', 'up')
  if not st[1] then return end
  local nxt, t, bytes, first = tonumber(st[1]), tonumber(st[2]), tonumber(st[3]), tonumber(st[4])
  t = math.max(t, math.min(taken, nxt))
  local n = math.min(acked, t, nxt) - first + 1
  if n > 0 then
    for _, f in ipairs(redis.call('LPOP', P .. 'e:' .. id, n)) do bytes = bytes - #f end
    first = first + n
  end
  redis.call('HSET', h, 'taken', t, 'bytes', bytes, 'first', first)
  if applied and applied > tonumber(st[5] or 0) then redis.call('HSET', h, 'up', applied) end
end

-- join adds session id to the room hash rk (room named room) with its
-- PeerInfo JSON info and limit, appending peer-joined (announce) to every
-- member's log and the joined frame (pre, the peer list, post) to the
-- newcomer's, as one step: nil, or -1 when the room is full, -2 when the
-- session is gone, {} when it is a member already (a retry of a join
-- whose answer was lost: it is not repeated). A member's value is the
-- limit it joined with, a space, its PeerInfo JSON: the room keeps the
-- smallest.
local function join(rk, room, id, info, limit, pre, post, announce)
  if redis.call('HEXISTS', rk, id) == 1 then return {} end
  local members = redis.call('HGETALL', rk)
  local own = limit
  limit = tonumber(limit)
  local peers = {}
  for i = 2, #members, 2 do
    local cap, pinfo = string.match(members[i], '^(%d+) (.*)$')
    if cap then limit = math.min(limit, tonumber(cap)) else pinfo = members[i] end
    peers[#peers+1] = pinfo
  end
  if #peers >= limit then return -1 end
  if redis.call('EXISTS', P .. 's:' .. id) == 0 then return -2 end
  for i = 1, #members, 2 do append(members[i], announce) end
  append(id, pre .. table.concat(peers, ',') .. post)
  redis.call('HSET', rk, id, own .. ' ' .. info)
  redis.call('HSET', P .. 's:' .. id, 'room', room)
  return nil
end
