-- find.lua: ARGV[5] token → session id, or nil.
local id = redis.call('GET', P .. 't:' .. ARGV[5])
if not id or redis.call('EXISTS', P .. 's:' .. id) == 0 then return nil end
return id
