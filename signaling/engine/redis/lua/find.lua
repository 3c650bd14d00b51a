-- find.lua: ARGV[6] session id, ARGV[7] token → {applied} (the
-- client's last frame handled) when the session is live here and the
-- token is its own, the name of the shard it is moving
-- to when this is what it left behind (move.go), or nil. The token begins
-- with the id (engine.SessionRecord), so no index of tokens is kept.
local st = redis.call('HMGET', P .. 's:' .. ARGV[6], 'token', 'moving', 'up')
if st[1] ~= ARGV[7] then return nil end
if st[2] then return st[2] end
return {tonumber(st[3] or 0)}
