-- Shared by every script: loaded in front of each one (scripts.go).
local P, ME = ARGV[1], ARGV[2]
local MAXEV, MAXB = tonumber(ARGV[3]), tonumber(ARGV[4])
local local_notes, remote = {}, {}

-- note tells a session's node about it: 'd' (delivered: the event's seq
-- and frame follow, so that the node need not read it back), 'q' (a
-- request another node forwards: its id and body follow), 'f' (full:
-- the session ends as a slow consumer) or 'm' (moved to another node).
-- A note is the kind letter, the session id and a space; 'd' and 'q'
-- notes then have a tag (the seq, the request id), a space, the body's
-- length, a space and the body.
-- Notes for this node are returned, the others published, one message
-- per node.
local function note(owner, kind, id, tag, body)
  local n
  if tag then
    n = kind .. id .. ' ' .. tag .. ' ' .. #body .. ' ' .. body
  else
    n = kind .. id .. ' '
  end
  if owner == ME then
    local_notes[#local_notes+1] = n
  elseif owner and owner ~= '' then
    local t = remote[owner]
    if not t then t = {}; remote[owner] = t end
    t[#t+1] = n
  end
end

local function flush()
  for owner, t in pairs(remote) do
    redis.call('PUBLISH', P .. 'n:' .. owner, table.concat(t))
  end
  return table.concat(local_notes)
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
-- taken mark) for one session; 0 means none. A node sends them in
-- batches (marks.lua): one call for many sessions' marks.
local function marks(id, taken, acked)
  local h = P .. 's:' .. id
  local st = redis.call('HMGET', h, 'next', 'taken', 'bytes', 'first')
  if not st[1] then return end
  local nxt, t, bytes, first = tonumber(st[1]), tonumber(st[2]), tonumber(st[3]), tonumber(st[4])
  t = math.max(t, math.min(taken, nxt))
  local n = math.min(acked, t, nxt) - first + 1
  if n > 0 then
    for _, f in ipairs(redis.call('LPOP', P .. 'e:' .. id, n)) do bytes = bytes - #f end
    first = first + n
  end
  redis.call('HSET', h, 'taken', t, 'bytes', bytes, 'first', first)
end
