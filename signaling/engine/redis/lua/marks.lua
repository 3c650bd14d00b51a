-- marks.lua: ARGV[6...] quadruples of session id, taken mark, ack,
-- applied (0: none) → 1. Sessions that are gone are skipped.
for i = 6, #ARGV, 4 do
  marks(ARGV[i], tonumber(ARGV[i+1]), tonumber(ARGV[i+2]), tonumber(ARGV[i+3]))
end
return 1
