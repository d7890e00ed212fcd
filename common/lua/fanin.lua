-- Copies a run of a group's feed into one member's inbox (the downlink's fan-out), exactly
-- once: entries at or below the inbox's cursor for the group were copied before and are
-- skipped, so the fan-out can be repeated after a crash, or done twice at once, safely.
--
-- KEYS  1 the user's inbox meta  2 the user's delivery stream
-- ARGV  1 user  2 conv  3 epoch candidate  4 now (ms)  5 inbox max entries
--       6 inbox retention (ms)  7 delivery stream max length
--       8.. triples: fseq, "m:<conv_seq>:<from>" for a message or "n", envelope rest
--       (ascending fseq)
-- Returns the number of entries appended.
--@include inbox
local user, conv = ARGV[1], ARGV[2]
INBOX.max_entries, INBOX.retention_ms, INBOX.stream_max = ARGV[5], tonumber(ARGV[6]), ARGV[7]
local cursor_key = user_key(user, 'fanin')
local cursor = tonumber(redis.call('HGET', cursor_key, conv)) or 0
local now, appended = tonumber(ARGV[4]), 0
for i = 8, #ARGV - 2, 3 do
  local fseq = tonumber(ARGV[i])
  if fseq > cursor then
    local msg = nil
    local conv_seq, from = string.match(ARGV[i + 1], '^m:(%d+):(.*)$')
    if conv_seq then msg = {conv = conv, conv_seq = tonumber(conv_seq), from = from} end
    inbox_append(user, KEYS[2], ARGV[3], ARGV[i + 2], now, msg)
    cursor = fseq
    appended = appended + 1
  end
end
if appended > 0 then redis.call('HSET', cursor_key, conv, cursor) end
return appended
