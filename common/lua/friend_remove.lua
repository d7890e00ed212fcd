#!lua
-- Ends a friendship: the first step, in the caller's slot (docs/design.md, "Cross-slot
-- operations"). It removes the caller's side and records the operation in a marker; the other
-- user's side and their friend.removed notification are the next steps, and the last one
-- deletes the marker. A repeat while the marker is there (a retry after a crash) returns the
-- recorded operation id, so the retry completes the steps with the same notification.
--
-- KEYS  1 caller session  2 caller friends  3 marker {u:<caller>}:op:unfriend:<other>
-- ARGV  1 other  2 operation id  3 marker ttl (s)
-- Returns {"ok", operation id} | {"unauthorized"} | {"not_found"}
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unauthorized'} end
local op = redis.call('GET', KEYS[3])
if op then return {'ok', op} end
if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then return {'not_found'} end
redis.call('SET', KEYS[3], ARGV[2], 'EX', ARGV[3])
return {'ok', ARGV[2]}
