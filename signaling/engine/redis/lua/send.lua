-- send.lua: KEYS[1] room hash; ARGV[5] from, ARGV[6] to (” for all
-- but from), ARGV[7] frame → notes, or -1 when "to" is no other member.
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
