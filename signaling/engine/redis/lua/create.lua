-- create.lua: ARGV[6] id, ARGV[7] token.
redis.call('HSET', P .. 's:' .. ARGV[6], 'token', ARGV[7], 'owner', ME, 'room', '',
  'next', 0, 'taken', 0, 'bytes', 0, 'first', 1)
redis.call('SADD', P .. 'ns:' .. ME, ARGV[6])
return 1
