#!lua
-- A one-to-one message's history entry, in the conversation's slot, as a step of its send:
-- conv_seq and the entry, once; a repeated step returns the same conv_seq.
--
-- KEYS  1 conv meta  2 conv log  3 the step's marker {c:<conv>}:op:<id>
-- ARGV  1 envelope head  2 envelope tail  3 marker ttl (s)  4 sender
-- Returns conv_seq. The entry: field e the message JSON, f its sender (direct_fanin.lua copies
-- entries into the two inboxes in conv_seq order).
local done = tonumber(redis.call('GET', KEYS[3]))
if done then return done end
local conv_seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('XADD', KEYS[2], conv_seq .. '-0', 'e',
           '{' .. ARGV[1] .. ',"conv_seq":' .. conv_seq .. ',' .. ARGV[2], 'f', ARGV[4])
redis.call('SET', KEYS[3], conv_seq, 'EX', ARGV[3])
return conv_seq
