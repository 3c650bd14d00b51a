-- forward.lua: ARGV[5] session id, ARGV[6] request id, ARGV[7] the
-- request → the id of the node that runs the session, to which the
-- request was published as a 'q' note, or '' when none does (it was
-- not published). Published here, the note reaches the session's node
-- in order with the session's other notes.
local owner = redis.call('HGET', P .. 's:' .. ARGV[5], 'owner')
if not owner or owner == '' or owner == ME then return '' end
note(owner, 'q', ARGV[5], ARGV[6], ARGV[7])
flush()
return owner
