-- forward.lua: ARGV[6] session id, ARGV[7] request id, ARGV[8] the
-- request, ARGV[9] the session's token → the id of the node that runs
-- the session, to which the request was published as a 'q' note, or ''
-- when none does here or the token is not the session's (nothing was
-- published; a session moving away from this shard counts as not here).
-- Published here, the note reaches the session's node in order with the
-- session's other notes.
local st = redis.call('HMGET', P .. 's:' .. ARGV[6], 'owner', 'moving', 'token')
local owner = st[1]
if not owner or owner == '' or owner == ME or st[2] or st[3] ~= ARGV[9] then return '' end
note(owner, 'q', ARGV[6], ARGV[7], ARGV[8])
flush()
return owner
