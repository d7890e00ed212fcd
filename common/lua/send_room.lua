-- A room send: room_seq (the room's conv_seq), the newest room_history_max messages kept as
-- history, and one delivery that the downlink publishes on the room's topic. Not stored in
-- any inbox.
--
-- KEYS  1 sender session  2 cmid record  3 sender rate bucket  4 room members  5 conv meta
--       6 conv log  7 the room's delivery stream
-- ARGV  1 id  2 conv  3 ts (ms)  4 envelope head  5 envelope tail  6 sender  7 room id
--       8 cmid window (s)  9 send rate (/s)  10 send burst  11 stream max length
--      12 room history max
-- Returns {"ok"|"dup", id, conv, conv_seq, ts} | {"unauthorized"} | {"not_member"}
--       | {"rate_limited", retry_after_ms}
--@include send
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unauthorized'} end
local dup = earlier_send(KEYS[2])
if dup then return dup end
if redis.call('SISMEMBER', KEYS[4], ARGV[6]) == 0 then return {'not_member'} end

local now = tonumber(ARGV[3])
local wait = take_send_token(KEYS[3], now, tonumber(ARGV[9]), tonumber(ARGV[10]))
if wait then return {'rate_limited', wait} end

local room_seq = redis.call('HINCRBY', KEYS[5], 'seq', 1)
local env = '{' .. ARGV[4] .. ',"room_seq":' .. room_seq .. ',"conv_seq":' .. room_seq .. ',' ..
            ARGV[5]
redis.call('XADD', KEYS[6], 'MAXLEN', ARGV[12], room_seq .. '-0', 'e', env)
redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[11], '*', 'k', 'room', 'r', ARGV[7], 'u',
           ARGV[6], 'p', env)

record_send(KEYS[2], ARGV[8], '', 0, ARGV[1], ARGV[2], room_seq, ARGV[6], now)
return {'ok', ARGV[1], ARGV[2], room_seq, now}
