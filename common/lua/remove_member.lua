#!lua
-- A member leaves (target = caller) or the owner removes one, in the group's slot (the caller's
-- session was checked before). The group.member_left / group.member_removed feed entry reaches
-- every member, the leaving one included: their membership interval ends with that entry. An
-- owner who leaves hands the group to the longest-standing admin, else the longest-standing
-- member, announced by group.role_changed.
--
-- KEYS  1 group  2 members  3 joined  4 left  5 conv meta  6 feed
-- ARGV  1 group id  2 caller  3 target  4 envelope rest  5 now (ms)
-- Returns {verdict, fseq of the fan-out task to queue or 0}; verdict "ok" | "not_found"
--       | "not_member" | "forbidden" | "no_such_member"
--@include group
if redis.call('EXISTS', KEYS[1]) == 0 then return {'not_found', 0} end
local caller, target = ARGV[2], ARGV[3]
local role = role_of(KEYS[2], caller)
if not role then return {'not_member', fanout_due(KEYS[5])} end
local target_role = role_of(KEYS[2], target)
if caller ~= target then
  if role ~= 'owner' then return {'forbidden', fanout_due(KEYS[5])} end
  if not target_role then return {'no_such_member', fanout_due(KEYS[5])} end
end

local fseq = feed_notification(KEYS[5], KEYS[6], ARGV[4], target, '')
local joined = redis.call('HGET', KEYS[3], target) or '0'
redis.call('HDEL', KEYS[2], target)
redis.call('HDEL', KEYS[3], target)
-- Former memberships the fan-out has not passed yet are kept beside this one.
local span = joined .. ':' .. fseq
local earlier = redis.call('HGET', KEYS[4], target)
if earlier then span = earlier .. ',' .. span end
redis.call('HSET', KEYS[4], target, span)

if target_role == 'owner' then
  local heir, heir_rank = nil, nil
  local all = redis.call('HGETALL', KEYS[3])
  for i = 1, #all, 2 do
    local r = redis.call('HGET', KEYS[2], all[i])
    -- Admins first, then by the fseq that added them, then by id.
    local rank = {r == 'admin' and 0 or 1, tonumber(all[i + 1]), all[i]}
    if not heir_rank or rank[1] < heir_rank[1] or
       (rank[1] == heir_rank[1] and (rank[2] < heir_rank[2] or
        (rank[2] == heir_rank[2] and rank[3] < heir_rank[3]))) then
      heir, heir_rank = all[i], rank
    end
  end
  if heir then
    redis.call('HSET', KEYS[2], heir, 'owner')
    redis.call('HSET', KEYS[1], 'owner', heir)
    feed_notification(KEYS[5], KEYS[6], role_changed_rest(ARGV[1], heir, 'owner', caller, ARGV[5]),
                      heir, '')
  else
    redis.call('HSET', KEYS[1], 'owner', '')
  end
end
return {'ok', fanout_due(KEYS[5])}
