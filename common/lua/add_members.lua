-- Adds users to a group (owner or admins): each new member gets a group.member_added feed
-- entry, which reaches every member including the new one. Users already members are skipped.
--
-- KEYS  1 caller session  2 group  3 members  4 joined  5 conv meta  6 feed  7 fan-out stream
-- ARGV  1 conv  2 caller  3 max members  4 stream max length
--       5.. pairs: user, its group.member_added envelope rest
-- Returns {"ok", added...} | {"unauthorized"} | {"not_found"} | {"not_found", user}
--       | {"not_member"} | {"forbidden"} | {"conflict", max}
--@include group
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unauthorized'} end
if redis.call('EXISTS', KEYS[2]) == 0 then return {'not_found'} end
local role = role_of(KEYS[3], ARGV[2])
if not role then return {'not_member'} end
if role ~= 'owner' and role ~= 'admin' then return {'forbidden'} end
local new = {}
for i = 5, #ARGV - 1, 2 do
  local user = ARGV[i]
  if redis.call('EXISTS', '{u:' .. user .. '}:user') == 0 then return {'not_found', user} end
  if redis.call('HEXISTS', KEYS[3], user) == 0 then new[#new + 1] = i end
end
if redis.call('HLEN', KEYS[3]) + #new > tonumber(ARGV[3]) then return {'conflict', ARGV[3]} end
local out, fseq = {'ok'}, nil
for _, i in ipairs(new) do
  fseq = feed_notification(KEYS[5], KEYS[6], ARGV[i + 1], ARGV[i], '')
  redis.call('HSET', KEYS[3], ARGV[i], 'member')
  redis.call('HSET', KEYS[4], ARGV[i], fseq)
  out[#out + 1] = ARGV[i]
end
if fseq then queue_fanout(KEYS[7], ARGV[4], ARGV[1], fseq) end
return out
