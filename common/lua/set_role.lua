-- The owner makes a member an admin (who may then add members) or a member again. Every
-- member, the changed one included, gets group.role_changed through the feed. Setting the
-- role a member already has changes nothing.
--
-- KEYS  1 caller session  2 group  3 members  4 conv meta  5 feed  6 fan-out stream
-- ARGV  1 conv  2 caller  3 target  4 role ("admin" | "member")  5 now (ms)
--       6 stream max length
-- Returns {"ok"} | {"unauthorized"} | {"not_found"} | {"not_member"} | {"forbidden"}
--       | {"no_such_member"}
--@include group
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unauthorized'} end
if redis.call('EXISTS', KEYS[2]) == 0 then return {'not_found'} end
local caller, target, role = ARGV[2], ARGV[3], ARGV[4]
local caller_role = role_of(KEYS[3], caller)
if not caller_role then return {'not_member'} end
if caller_role ~= 'owner' or target == caller then return {'forbidden'} end
local current = role_of(KEYS[3], target)
if not current then return {'no_such_member'} end
if current == role then return {'ok'} end
redis.call('HSET', KEYS[3], target, role)
local rest = role_changed_rest(string.sub(ARGV[1], 3), target, role, caller, ARGV[5])
local fseq = feed_notification(KEYS[4], KEYS[5], rest, target, '')
queue_fanout(KEYS[6], ARGV[6], ARGV[1], fseq)
return {'ok'}
