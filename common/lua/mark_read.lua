-- The caller has read a conversation up to conv_seq (clamped to the newest): their read mark
-- moves (never back) and the other members get receipt.read — the other user of a one-to-one
-- chat directly in their inbox, a group's members through the group's feed. Nothing happens
-- when the mark does not move.
--
-- KEYS  1 caller session  2 conv meta
--       direct: 3 the other user's delivery stream
--       group:  3 members  4 feed  5 fan-out stream
-- ARGV  1 "direct" | "group"  2 caller  3 conv  4 conv_seq  5 now (ms)
--       6 direct: the other user  7 epoch candidate  8 inbox max entries
--       9 inbox retention (ms)  10 stream max length
-- Returns {"ok", read_conv_seq} | {"unauthorized"} | {"not_member"}
--@include inbox
--@include group
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unauthorized'} end
local mode, caller, conv = ARGV[1], ARGV[2], ARGV[3]
if mode == 'group' and not role_of(KEYS[3], caller) then return {'not_member'} end
local latest = tonumber(redis.call('HGET', KEYS[2], 'seq')) or 0
local upto = math.min(tonumber(ARGV[4]), latest)
local read_key = user_key(caller, 'convread')
local read = tonumber(redis.call('HGET', read_key, conv)) or 0
if upto <= read then return {'ok', read} end
redis.call('HSET', read_key, conv, upto)
-- Unread: at most the messages after the mark among those this inbox holds.
local last = redis.call('HGET', user_key(caller, 'convlast'), conv)
local last_seq = last and tonumber(string.match(last, '"conv_seq":(%d+)')) or 0
local unread_key = user_key(caller, 'convunread')
local unread = tonumber(redis.call('HGET', unread_key, conv)) or 0
redis.call('HSET', unread_key, conv, math.min(unread, math.max(0, last_seq - upto)))

local rest = '"type":"notification","event":"receipt.read","data":{"conv":"' .. conv ..
             '","user_id":"' .. caller .. '","conv_seq":' .. upto .. '},"ts":' .. ARGV[5] .. '}'
INBOX.max_entries, INBOX.retention_ms, INBOX.stream_max = ARGV[8], tonumber(ARGV[9]), ARGV[10]
if mode == 'direct' then
  if ARGV[6] ~= caller then
    inbox_append(ARGV[6], KEYS[3], ARGV[7], rest, tonumber(ARGV[5]), nil)
  end
else
  local fseq = feed_notification(KEYS[2], KEYS[4], rest, '', caller)
  queue_fanout(KEYS[5], ARGV[10], conv, fseq)
end
return {'ok', upto}
