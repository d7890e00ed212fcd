#!lua
-- The fan-out of a group's feed is done up to `upto`: every recipient has the entries up to
-- it. Moves the watermark (never back), trims the fanned part of the feed, and forgets the
-- former memberships ("<joined>:<left>", comma-separated) whose last entry is now fanned.
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
  local keep = {}
  for span in string.gmatch(left[i + 1], '[^,]+') do
    local last = tonumber(string.match(span, ':(%d+)$'))
    if last and last > upto then keep[#keep + 1] = span end
  end
  if #keep == 0 then
    redis.call('HDEL', KEYS[3], left[i])
  else
    redis.call('HSET', KEYS[3], left[i], table.concat(keep, ','))
  end
end
return upto
