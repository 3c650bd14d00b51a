-- send.lua: KEYS[1] room hash; ARGV[6] from, ARGV[7] to ('' for all
-- but from), ARGV[8] frame, ARGV[9] the send's id (unique to its node and
-- call), ARGV[10] the sender's number for the frame (cseq, 0: none),
-- kept as its last frame handled ('up') → notes, -1 when "to" is no other
-- member, or 0 when the frame is not relayed again: the sender's last
-- send had this id (a retry of a call whose answer timed out), or cseq
-- is not above 'up' (the client sent again a frame it was told did not
-- go, whose call ran after all; or one the session moved past).
local from, to = ARGV[6], ARGV[7]
local sender = P .. 's:' .. from
local st = redis.call('HMGET', sender, 'sent', 'next', 'up')
if st[1] == ARGV[9] then return 0 end
local cseq, up = tonumber(ARGV[10]), tonumber(st[3] or 0)
if cseq > 0 and cseq <= up then return 0 end
if to == '' then
  for _, id in ipairs(redis.call('HKEYS', KEYS[1])) do
    if id ~= from then append(id, ARGV[8]) end
  end
elseif to == from or redis.call('HEXISTS', KEYS[1], to) == 0 then
  return -1
else
  append(to, ARGV[8])
end
if st[2] then
  if cseq > up then
    redis.call('HSET', sender, 'sent', ARGV[9], 'up', cseq)
  else
    redis.call('HSET', sender, 'sent', ARGV[9])
  end
end
return flush()
