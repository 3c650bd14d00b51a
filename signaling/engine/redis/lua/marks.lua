-- marks.lua: ARGV[5...] triples of session id, taken mark, ack (0: none)
-- → 1. Sessions that are gone are skipped.
for i = 6, #ARGV, 3 do
  marks(ARGV[i], tonumber(ARGV[i+1]), tonumber(ARGV[i+2]))
end
return 1
