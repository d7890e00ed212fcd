#!lua
-- Logout, in the user's slot: the session ends, and its kick — tell the device and disconnect
-- it — is recorded in the user's kick outbox, queued on the delivery stream by the next step
-- (see open_session.lua). An ended session still returns the outbox, so a retried logout queues
-- a kick its first try recorded but did not queue.
--
-- KEYS  1 session  2 the user's kick outbox
-- ARGV  1 user  2 session id  3 kicked payload  4 outbox ttl (s)
-- Returns {"ok" | "unauthorized", outbox...} (flat session id, "<notify> <device> <payload>")
local out = {'ok'}
local session = redis.call('HMGET', KEYS[1], 'device', 'platform')
if not session[1] then
  out = {'unauthorized'}
else
  redis.call('DEL', KEYS[1])
  -- Same hash tag as KEYS[1], so the same cluster slot.
  local platform_key = '{u:' .. ARGV[1] .. '}:plat:' .. (session[2] or '')
  if redis.call('GET', platform_key) == ARGV[2] then redis.call('DEL', platform_key) end
  redis.call('HSET', KEYS[2], ARGV[2], '1 ' .. session[1] .. ' ' .. ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
for _, v in ipairs(redis.call('HGETALL', KEYS[2])) do out[#out + 1] = v end
return out
