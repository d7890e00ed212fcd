-- A group send: the message is written once — history and the group's feed — and a fan-out
-- task is queued; the downlink copies the feed into the members' inboxes (fanin.lua). So the
-- reply does not wait for, or grow with, the group's size.
--
-- KEYS  1 sender session  2 cmid record  3 sender rate bucket  4 group  5 group members
--       6 conv meta  7 conv log  8 group feed  9 fan-out stream  10 message index
-- ARGV  1 id  2 conv  3 ts (ms)  4 envelope head  5 envelope tail  6 sender
--       7 cmid window (s)  8 send rate (/s)  9 send burst  10 stream max length
--      11 message index ttl (ms)
-- Returns {"ok"|"dup", id, conv, conv_seq, ts} | {"unauthorized"} | {"not_found"}
--       | {"not_member"} | {"rate_limited", retry_after_ms}
--@include send
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unauthorized'} end
local dup = earlier_send(KEYS[2])
if dup then return dup end
if redis.call('HEXISTS', KEYS[5], ARGV[6]) == 0 then
  if redis.call('EXISTS', KEYS[4]) == 0 then return {'not_found'} end
  return {'not_member'}
end

local now = tonumber(ARGV[3])
local wait = take_send_token(KEYS[3], now, tonumber(ARGV[8]), tonumber(ARGV[9]))
if wait then return {'rate_limited', wait} end

local conv_seq = redis.call('HINCRBY', KEYS[6], 'seq', 1)
local rest = ARGV[4] .. ',"conv_seq":' .. conv_seq .. ',' .. ARGV[5]
redis.call('XADD', KEYS[7], conv_seq .. '-0', 'e', '{' .. rest)
local fseq = redis.call('HINCRBY', KEYS[6], 'fseq', 1)
redis.call('XADD', KEYS[8], fseq .. '-0', 'b', rest, 'm', '1', 'f', ARGV[6], 'c', conv_seq)
redis.call('XADD', KEYS[9], 'MAXLEN', '~', ARGV[10], '*', 'k', 'feed', 'c', ARGV[2], 'f', fseq)

record_send(KEYS[2], ARGV[7], KEYS[10], ARGV[11], ARGV[1], ARGV[2], conv_seq, ARGV[6], now)
return {'ok', ARGV[1], ARGV[2], conv_seq, now}
