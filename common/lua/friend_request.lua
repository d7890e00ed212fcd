-- A friend request: recorded on both sides and announced to the target by a friend.request
-- notification in their inbox. A second request to the same target while the first is pending
-- returns the first one's id and writes nothing. A request to someone whose own request to the
-- caller is pending accepts that one instead: both become friends and the target gets
-- friend.accepted for their request.
--
-- KEYS  1 requester session  2 target user  3 target delivery stream
-- ARGV  1 from  2 to  3 request id  4 request JSON {request_id, from, note, ts}
--       5 friend.request envelope rest  6 now (ms)  7 epoch candidate  8 inbox max entries
--       9 inbox retention (ms)  10 delivery stream max length
--      11 friend.accepted envelope rest, with "%REQUEST_ID%" in place of the request id
-- Returns {"ok", request_id} | {"dup", request_id} | {"accepted", their request_id}
--       | {"unauthorized"} | {"not_found"} | {"blocked"} | {"conflict"}
--@include inbox
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unauthorized'} end
if redis.call('EXISTS', KEYS[2]) == 0 then return {'not_found'} end
local from, to = ARGV[1], ARGV[2]
if redis.call('SISMEMBER', user_key(to, 'blocks'), from) == 1 then return {'blocked'} end
if redis.call('HEXISTS', user_key(from, 'friends'), to) == 1 then return {'conflict'} end
local pending = redis.call('HGET', user_key(from, 'freqout'), to)
if pending and redis.call('HEXISTS', user_key(to, 'freq'), pending) == 1 then
  return {'dup', pending}
end
INBOX.max_entries, INBOX.retention_ms, INBOX.stream_max = ARGV[8], tonumber(ARGV[9]), ARGV[10]
local theirs = redis.call('HGET', user_key(to, 'freqout'), from)
if theirs and redis.call('HEXISTS', user_key(from, 'freq'), theirs) == 1 then
  -- Everything that can fail is done before the first write (a script is not rolled back).
  local rest = string.gsub(ARGV[11], '%%REQUEST_ID%%', theirs)
  redis.call('HDEL', user_key(from, 'freq'), theirs)
  redis.call('HDEL', user_key(to, 'freqout'), from)
  redis.call('HSET', user_key(from, 'friends'), to, ARGV[6])
  redis.call('HSET', user_key(to, 'friends'), from, ARGV[6])
  inbox_append(to, KEYS[3], ARGV[7], rest, tonumber(ARGV[6]), nil)
  return {'accepted', theirs}
end
redis.call('HSET', user_key(to, 'freq'), ARGV[3], ARGV[4])
redis.call('HSET', user_key(from, 'freqout'), to, ARGV[3])
inbox_append(to, KEYS[3], ARGV[7], ARGV[5], tonumber(ARGV[6]), nil)
return {'ok', ARGV[3]}
