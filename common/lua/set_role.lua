#!lua
-- The owner makes a member an admin (who may then add members) or a member again, in the
-- group's slot (the caller's session was checked before). Every member, the changed one
-- included, gets group.role_changed through the feed. Setting the role a member already has
-- changes nothing.
--
-- KEYS  1 group  2 members  3 conv meta  4 feed
-- ARGV  1 group id  2 caller  3 target  4 role ("admin" | "member")  5 now (ms)
-- Returns {verdict, fseq of the fan-out task to queue or 0}; verdict "ok" | "not_found"
--       | "not_member" | "forbidden" | "no_such_member"
--@include group
if redis.call('EXISTS', KEYS[1]) == 0 then return {'not_found', 0} end
local caller, target, role = ARGV[2], ARGV[3], ARGV[4]
local caller_role = role_of(KEYS[2], caller)
if not caller_role then return {'not_member', fanout_due(KEYS[3])} end
if caller_role ~= 'owner' or target == caller then return {'forbidden', fanout_due(KEYS[3])} end
local current = role_of(KEYS[2], target)
if not current then return {'no_such_member', fanout_due(KEYS[3])} end
if current ~= role then
  redis.call('HSET', KEYS[2], target, role)
  local rest = role_changed_rest(ARGV[1], target, role, caller, ARGV[5])
  feed_notification(KEYS[3], KEYS[4], rest, target, '')
end
return {'ok', fanout_due(KEYS[3])}
