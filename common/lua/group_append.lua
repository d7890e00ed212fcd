#!lua
-- A group message, in the group's slot, as a step of its send: membership, conv_seq, the
-- history entry and the feed entry that the downlink fans out into the members' inboxes —
-- once; a repeated step returns the same numbers.
--
-- KEYS  1 group  2 members  3 conv meta  4 conv log  5 feed  6 the step's marker
-- ARGV  1 sender  2 envelope head  3 envelope tail  4 marker ttl (s)
-- Returns {"ok", conv_seq, fseq} | {"not_found"} | {"not_member"}
local done = redis.call('GET', KEYS[6])
if done then
  local conv_seq, fseq = string.match(done, '^(%d+):(%d+)$')
  return {'ok', tonumber(conv_seq), tonumber(fseq)}
end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then
  if redis.call('EXISTS', KEYS[1]) == 0 then return {'not_found'} end
  return {'not_member'}
end
local conv_seq = redis.call('HINCRBY', KEYS[3], 'seq', 1)
local rest = ARGV[2] .. ',"conv_seq":' .. conv_seq .. ',' .. ARGV[3]
redis.call('XADD', KEYS[4], conv_seq .. '-0', 'e', '{' .. rest)
local fseq = redis.call('HINCRBY', KEYS[3], 'fseq', 1)
redis.call('XADD', KEYS[5], fseq .. '-0', 'b', rest, 'm', '1', 'f', ARGV[1], 'c', conv_seq)
redis.call('SET', KEYS[6], conv_seq .. ':' .. fseq, 'EX', ARGV[4])
return {'ok', conv_seq, fseq}
