-- Ends a friendship on both sides; the other user gets friend.removed.
-- KEYS  1 caller session  2 other user's delivery stream
-- ARGV  1 caller  2 other  3 envelope rest  4 now (ms)  5 epoch candidate
--       6 inbox max entries  7 inbox retention (ms)  8 delivery stream max length
-- Returns {"ok"} | {"unauthorized"} | {"not_found"}
--@include inbox
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unauthorized'} end
local caller, other = ARGV[1], ARGV[2]
if redis.call('HDEL', user_key(caller, 'friends'), other) == 0 then return {'not_found'} end
redis.call('HDEL', user_key(other, 'friends'), caller)
INBOX.max_entries, INBOX.retention_ms, INBOX.stream_max = ARGV[6], tonumber(ARGV[7]), ARGV[8]
inbox_append(other, KEYS[2], ARGV[5], ARGV[3], tonumber(ARGV[4]), nil)
return {'ok'}
