-- ack.lua: ARGV[5] id, ARGV[6] seq, ARGV[7] taken mark (0: none);
-- capped at the taken mark, which it returns.
take(ARGV[5], tonumber(ARGV[7]))
local taken = redis.call('HGET', P .. 's:' .. ARGV[5], 'taken')
if not taken then return 0 end
local upto = math.min(tonumber(ARGV[6]), tonumber(taken))
ack(ARGV[5], upto)
return upto
