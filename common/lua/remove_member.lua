-- A member leaves (target = caller) or the owner removes one. The group.member_left /
-- group.member_removed feed entry reaches every member, the leaving one included: their
-- membership interval ends with that entry. An owner who leaves hands the group to the
-- longest-standing admin, else the longest-standing member, announced by group.role_changed.
--
-- KEYS  1 caller session  2 group  3 members  4 joined  5 left  6 conv meta  7 feed
--       8 fan-out stream
-- ARGV  1 conv  2 caller  3 target  4 stream max length  5 envelope rest  6 now (ms)
-- Returns {"ok"} | {"unauthorized"} | {"not_found"} | {"not_member"} | {"forbidden"}
--       | {"no_such_member"}
--@include group
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unauthorized'} end
if redis.call('EXISTS', KEYS[2]) == 0 then return {'not_found'} end
local caller, target = ARGV[2], ARGV[3]
local role = role_of(KEYS[3], caller)
if not role then return {'not_member'} end
local target_role = role_of(KEYS[3], target)
if caller ~= target then
  if role ~= 'owner' then return {'forbidden'} end
  if not target_role then return {'no_such_member'} end
end

local fseq = feed_notification(KEYS[6], KEYS[7], ARGV[5], target, '')
local joined = redis.call('HGET', KEYS[4], target) or '0'
redis.call('HDEL', KEYS[3], target)
redis.call('HDEL', KEYS[4], target)
-- Former memberships the fan-out has not passed yet are kept beside this one.
local span = joined .. ':' .. fseq
local earlier = redis.call('HGET', KEYS[5], target)
if earlier then span = earlier .. ',' .. span end
redis.call('HSET', KEYS[5], target, span)

if target_role == 'owner' then
  local heir, heir_rank = nil, nil
  local all = redis.call('HGETALL', KEYS[4])
  for i = 1, #all, 2 do
    local r = redis.call('HGET', KEYS[3], all[i])
    -- Admins first, then by the fseq that added them, then by id.
    local rank = {r == 'admin' and 0 or 1, tonumber(all[i + 1]), all[i]}
    if not heir_rank or rank[1] < heir_rank[1] or
       (rank[1] == heir_rank[1] and (rank[2] < heir_rank[2] or
        (rank[2] == heir_rank[2] and rank[3] < heir_rank[3]))) then
      heir, heir_rank = all[i], rank
    end
  end
  if heir then
    redis.call('HSET', KEYS[3], heir, 'owner')
    redis.call('HSET', KEYS[2], 'owner', heir)
    fseq = feed_notification(KEYS[6], KEYS[7],
                             role_changed_rest(string.sub(ARGV[1], 3), heir, 'owner', caller,
                                               ARGV[6]), heir, '')
  else
    redis.call('HSET', KEYS[2], 'owner', '')
  end
end
queue_fanout(KEYS[8], ARGV[4], ARGV[1], fseq)
return {'ok'}
