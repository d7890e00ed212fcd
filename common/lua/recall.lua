-- The sender recalls a message (the caller has checked sender and window from the message
-- index): its conv_seq joins the conversation's recalled set (history shows it as recalled)
-- and every member gets message.recalled — both users of a one-to-one chat directly, a
-- group's members through the feed. Recalling twice changes nothing the second time.
--
-- KEYS  1 caller session  2 recalled set
--       direct: 3 user a's delivery stream  4 user b's delivery stream
--       group:  3 members  4 conv meta  5 feed  6 fan-out stream
-- ARGV  1 "direct" | "group"  2 caller  3 conv  4 conv_seq  5 envelope rest  6 now (ms)
--       7 epoch candidate  8 inbox max entries  9 inbox retention (ms)  10 stream max length
--      11 direct: user a  12 direct: user b
-- Returns {"ok"} | {"unauthorized"} | {"not_member"}
--@include inbox
--@include group
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unauthorized'} end
local mode, caller = ARGV[1], ARGV[2]
if mode == 'group' and not role_of(KEYS[3], caller) then return {'not_member'} end
if redis.call('SADD', KEYS[2], ARGV[4]) == 0 then return {'ok'} end
INBOX.max_entries, INBOX.retention_ms, INBOX.stream_max = ARGV[8], tonumber(ARGV[9]), ARGV[10]
local now = tonumber(ARGV[6])
if mode == 'direct' then
  inbox_append(ARGV[11], KEYS[3], ARGV[7], ARGV[5], now, nil)
  if ARGV[12] ~= ARGV[11] then inbox_append(ARGV[12], KEYS[4], ARGV[7], ARGV[5], now, nil) end
else
  local fseq = feed_notification(KEYS[4], KEYS[5], ARGV[5], '', '')
  queue_fanout(KEYS[6], ARGV[10], ARGV[3], fseq)
end
return {'ok'}
