#!lua
-- A friend request, the target's step (docs/design.md, "Cross-slot operations"). A pending
-- request lives in its target's slot only — freq (request id -> JSON) and freqin (requester ->
-- request id), always written and deleted together — so this step alone decides whether the
-- request is new or a repeat. The requester's side (session, friendship, a request of the
-- target's to the requester) was read before, in the requester's slot.
--
-- KEYS  1 target user  2 target blocks  3 target freq  4 target freqin  5 target friends
-- ARGV  1 from  2 to  3 request id  4 request JSON {request_id, from, note, ts}
--       5 friend.request envelope rest  6 now (ms)  7 epoch candidate  8 inbox max entries
--       9 inbox retention (ms)  10 "1" if the target is the requester's friend already
--      11 the target's pending request to the requester (which this one accepts), or ''
-- Returns {"ok", request_id, seq, envelope}: recorded, the target notified
--       | {"dup", request_id}: pending already, nothing written
--       | {"accepted", since}: a crossed request; the target's side of the friendship is
--         written (the friend.accepted notification and the requester's side are next)
--       | {"not_found"} | {"blocked"} | {"conflict"}
--@include inbox
local from, to = ARGV[1], ARGV[2]
if redis.call('EXISTS', KEYS[1]) == 0 then return {'not_found'} end
if redis.call('SISMEMBER', KEYS[2], from) == 1 then return {'blocked'} end
if ARGV[10] == '1' then return {'conflict'} end
local pending = redis.call('HGET', KEYS[4], from)
if pending then return {'dup', pending} end
if ARGV[11] ~= '' then
  -- Kept if it is there: a repeat after a crash does not move the friendship's start.
  redis.call('HSETNX', KEYS[5], from, ARGV[6])
  return {'accepted', redis.call('HGET', KEYS[5], from)}
end
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
redis.call('HSET', KEYS[4], from, ARGV[3])
INBOX.max_entries, INBOX.retention_ms = ARGV[8], tonumber(ARGV[9])
local seq, env = inbox_put(to, ARGV[7], ARGV[5], tonumber(ARGV[6]), nil)
return {'ok', ARGV[3], seq, env}
