#!lua
-- Adds users to a group (owner or admins), in the group's slot; the users' existence was checked
-- before. Each new member gets a group.member_added feed entry, which reaches every member
-- including the new one. Users already members are skipped, so a repeat adds nothing.
--
-- KEYS  1 group  2 members  3 joined  4 conv meta  5 feed
-- ARGV  1 caller  2 max members  3.. pairs: user, its group.member_added envelope rest
-- Returns {"ok", fseq of the fan-out task to queue or 0, added...} | {"not_found", 0}
--       | {"not_member", fseq} | {"forbidden", fseq} | {"conflict", fseq}
--@include group
if redis.call('EXISTS', KEYS[1]) == 0 then return {'not_found', 0} end
local role = role_of(KEYS[2], ARGV[1])
if not role then return {'not_member', fanout_due(KEYS[4])} end
if role ~= 'owner' and role ~= 'admin' then return {'forbidden', fanout_due(KEYS[4])} end
local new = {}
for i = 3, #ARGV - 1, 2 do
  if redis.call('HEXISTS', KEYS[2], ARGV[i]) == 0 then new[#new + 1] = i end
end
if redis.call('HLEN', KEYS[2]) + #new > tonumber(ARGV[2]) then
  return {'conflict', fanout_due(KEYS[4])}
end
local added = {}
for _, i in ipairs(new) do
  local fseq = feed_notification(KEYS[4], KEYS[5], ARGV[i + 1], ARGV[i], '')
  redis.call('HSET', KEYS[2], ARGV[i], 'member')
  redis.call('HSET', KEYS[3], ARGV[i], fseq)
  added[#added + 1] = ARGV[i]
end
local out = {'ok', fanout_due(KEYS[4])}
for _, user in ipairs(added) do out[#out + 1] = user end
return out
