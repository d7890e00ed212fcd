#!lua
-- A room message, in the room's slot, as a step of its send: membership, room_seq (the room's
-- conv_seq) and the history entry (the newest `room history max` kept) — once; a repeated
-- step returns the same room_seq.
--
-- KEYS  1 room members  2 conv meta  3 conv log  4 the step's marker
-- ARGV  1 sender  2 envelope head  3 envelope tail  4 marker ttl (s)  5 room history max
-- Returns {"ok", room_seq} | {"not_member"}
local done = tonumber(redis.call('GET', KEYS[4]))
if done then return {'ok', done} end
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return {'not_member'} end
local room_seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[5], room_seq .. '-0', 'e',
           '{' .. ARGV[2] .. ',"room_seq":' .. room_seq .. ',"conv_seq":' .. room_seq .. ',' ..
           ARGV[3])
redis.call('SET', KEYS[4], room_seq, 'EX', ARGV[4])
return {'ok', room_seq}
