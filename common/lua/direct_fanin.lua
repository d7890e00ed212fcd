#!lua
-- Copies one-to-one messages from the conversation's history into one of its two inboxes, in
-- conv_seq order and exactly once, in the user's slot (a step of the send: docs/design.md,
-- "Cross-slot operations"). The inbox's cursor for the conversation ({u:<user>}:fanin, as for
-- groups) is the highest conv_seq copied: entries at or below it are skipped, so the step can
-- be repeated; and an entry is never copied before the ones under it, so both users' inboxes
-- hold the conversation in one order even when both write at once. When the entries given
-- start above cursor + 1 (a concurrent send's entry, or an abandoned one's, is not copied
-- yet), nothing is copied and the caller is told where to start.
--
-- KEYS  1 the user's cursors {u:<user>}:fanin
-- ARGV  1 user  2 conv  3 epoch candidate  4 now (ms)  5 inbox max entries
--       6 inbox retention (ms)  7.. triples: conv_seq, sender, message JSON after its '{'
--       (ascending conv_seq)
-- Returns {"ok", seq, envelope, ...} for the entries copied now | {"gap", cursor}
--@include inbox
local user, conv = ARGV[1], ARGV[2]
local cursor = tonumber(redis.call('HGET', KEYS[1], conv))
if not cursor then
  -- No cursor: a new conversation for this inbox (start at 1), or one whose messages were
  -- copied before cursors existed (start at the entries given).
  cursor = 0
  if #ARGV >= 7 and redis.call('ZSCORE', user_key(user, 'convs'), conv) then
    cursor = tonumber(ARGV[7]) - 1
  end
end
if #ARGV >= 7 and tonumber(ARGV[7]) > cursor + 1 then return {'gap', cursor} end
INBOX.max_entries, INBOX.retention_ms = ARGV[5], tonumber(ARGV[6])
local now, out = tonumber(ARGV[4]), {'ok'}
for i = 7, #ARGV - 2, 3 do
  local conv_seq = tonumber(ARGV[i])
  if conv_seq > cursor then
    local seq, env = inbox_put(user, ARGV[3], ARGV[i + 2], now,
                               {conv = conv, conv_seq = conv_seq, from = ARGV[i + 1]})
    cursor = conv_seq
    out[#out + 1] = seq
    out[#out + 1] = env
  end
end
redis.call('HSET', KEYS[1], conv, cursor)
return out
