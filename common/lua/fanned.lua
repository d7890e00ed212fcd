-- The fan-out of a group's feed is done up to `upto`: every recipient has the entries up to
-- it. Moves the watermark (never back), trims the fanned part of the feed, and forgets former
-- members whose last entry is now fanned.
--
-- KEYS  1 conv meta  2 feed  3 left
-- ARGV  1 upto (fseq)
-- Returns the watermark.
local upto = tonumber(ARGV[1])
local fanned = tonumber(redis.call('HGET', KEYS[1], 'fanned')) or 0
if upto <= fanned then return fanned end
redis.call('HSET', KEYS[1], 'fanned', upto)
redis.call('XTRIM', KEYS[2], 'MINID', (upto + 1) .. '-0')
local left = redis.call('HGETALL', KEYS[3])
for i = 1, #left, 2 do
  local last = tonumber(string.match(left[i + 1], ':(%d+)$'))
  if last and last <= upto then redis.call('HDEL', KEYS[3], left[i]) end
end
return upto
