-- find.lua: ARGV[5] session id, ARGV[6] token → the id when the session
-- is live and the token is its own, or nil. The token begins with the id
-- (engine.SessionRecord), so no index of tokens is kept.
if redis.call('HGET', P .. 's:' .. ARGV[5], 'token') ~= ARGV[6] then return nil end
return ARGV[5]
