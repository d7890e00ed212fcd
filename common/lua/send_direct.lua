-- A one-to-one send, atomically: session check, de-duplication by cmid, recipient, blocks and
-- messaging policy, rate limit, conv_seq, history entry, an inbox entry (seq, epoch) for the
-- recipient and one for the sender (a single one for a message to oneself), each with its
-- push queued, and the records for de-duplication and recall.
--
-- KEYS  1 sender session   2 cmid record   3 sender rate bucket   4 recipient user
--       5 conv meta        6 conv log      7 recipient delivery stream
--       8 sender delivery stream           9 message index
-- ARGV  1 id  2 conv  3 ts (ms)  4 envelope head  5 envelope tail
--       6 recipient  7 sender  8 recipient epoch candidate  9 sender epoch candidate
--      10 cmid window (s)  11 inbox max entries  12 inbox retention (ms)
--      13 send rate (/s)  14 send burst  15 delivery stream max length
--      16 messaging policy ("open" | "friends")  17 message index ttl (ms)
-- Returns {"ok"|"dup", id, conv, conv_seq, ts} | {"unauthorized"} | {"not_found"}
--       | {"blocked"} | {"not_friends"} | {"rate_limited", retry_after_ms}
--@include inbox
--@include send
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unauthorized'} end
local dup = earlier_send(KEYS[2])
if dup then return dup end
if redis.call('EXISTS', KEYS[4]) == 0 then return {'not_found'} end

local recipient, sender = ARGV[6], ARGV[7]
if recipient ~= sender then
  if redis.call('SISMEMBER', user_key(recipient, 'blocks'), sender) == 1 then
    return {'blocked'}
  end
  if ARGV[16] == 'friends' and redis.call('HEXISTS', user_key(sender, 'friends'), recipient) == 0 then
    return {'not_friends'}
  end
end

local now = tonumber(ARGV[3])
local wait = take_send_token(KEYS[3], now, tonumber(ARGV[13]), tonumber(ARGV[14]))
if wait then return {'rate_limited', wait} end

local conv_seq = redis.call('HINCRBY', KEYS[5], 'seq', 1)
local rest = ARGV[4] .. ',"conv_seq":' .. conv_seq .. ',' .. ARGV[5]
redis.call('XADD', KEYS[6], conv_seq .. '-0', 'e', '{' .. rest)

INBOX.max_entries, INBOX.retention_ms = ARGV[11], tonumber(ARGV[12])
INBOX.stream_max = ARGV[15]
local msg = {conv = ARGV[2], conv_seq = conv_seq, from = sender}
inbox_append(recipient, KEYS[7], ARGV[8], rest, now, msg)
if recipient ~= sender then inbox_append(sender, KEYS[8], ARGV[9], rest, now, msg) end

record_send(KEYS[2], ARGV[10], KEYS[9], ARGV[17], ARGV[1], ARGV[2], conv_seq, sender, now)
return {'ok', ARGV[1], ARGV[2], conv_seq, now}
