-- The target of a friend request accepts or rejects it; the requester gets friend.accepted or
-- friend.rejected. On accept both become friends of each other.
--
-- KEYS  1 caller session  2 requester delivery stream
-- ARGV  1 caller  2 request id  3 requester (as read before; checked again here)
--       4 "accept" | "reject"  5 envelope rest  6 now (ms)  7 epoch candidate
--       8 inbox max entries  9 inbox retention (ms)  10 delivery stream max length
-- Returns {"ok"} | {"unauthorized"} | {"not_found"}
--@include inbox
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unauthorized'} end
local caller, rid, from = ARGV[1], ARGV[2], ARGV[3]
local request = redis.call('HGET', user_key(caller, 'freq'), rid)
if not request or cjson.decode(request)['from'] ~= from then return {'not_found'} end
redis.call('HDEL', user_key(caller, 'freq'), rid)
if redis.call('HGET', user_key(from, 'freqout'), caller) == rid then
  redis.call('HDEL', user_key(from, 'freqout'), caller)
end
if ARGV[4] == 'accept' then
  redis.call('HSET', user_key(caller, 'friends'), from, ARGV[6])
  redis.call('HSET', user_key(from, 'friends'), caller, ARGV[6])
end
INBOX.max_entries, INBOX.retention_ms, INBOX.stream_max = ARGV[8], tonumber(ARGV[9]), ARGV[10]
inbox_append(from, KEYS[2], ARGV[7], ARGV[5], tonumber(ARGV[6]), nil)
return {'ok'}
