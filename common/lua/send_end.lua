#!lua
-- The last step of a send, in the sender's slot: the cmid record is closed with the send's
-- conv_seq (a retry now gets the original answer) and loses what only a resume needed.
-- Closing twice changes nothing.
--
-- KEYS  1 cmid record
-- ARGV  1 id  2 conv_seq
-- Returns {"ok"} | {"gone"} (the record is not this send's: expired, or another id)
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return {'gone'} end
redis.call('HSET', KEYS[1], 'state', 'done', 'conv_seq', ARGV[2])
redis.call('HDEL', KEYS[1], 'until', 'h', 't')
return {'ok'}
