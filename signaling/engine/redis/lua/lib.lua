-- Shared by every script: loaded in front of each one (scripts.go).
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
