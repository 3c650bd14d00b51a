-- create.lua: ARGV[5] id, ARGV[6] token.
redis.call('HSET', P .. 's:' .. ARGV[5], 'token', ARGV[6], 'owner', ME, 'room', '',
  'next', 0, 'taken', 0, 'bytes', 0, 'first', 1)
redis.call('SADD', P .. 'ns:' .. ME, ARGV[5])
return 1
