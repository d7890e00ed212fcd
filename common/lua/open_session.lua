#!lua
-- Single sign-on, in the user's slot: the new session becomes the user's one live session on its
-- platform; the replaced one is deleted (its token stops working) and its kick — tell the device
-- and disconnect it — is recorded in the user's kick outbox. Queuing the kicks on the delivery
-- stream is the next step (another slot), and the one after clears them from the outbox; a crash
-- in between leaves them there, and the next login or logout of the user queues them again.
--
-- KEYS  1 new session  2 platform's live session  3 the user's kick outbox
-- ARGV  1 user  2 session id  3 device  4 platform  5 expires at (ms)  6 ttl (s)
--       7 kicked payload
-- Returns {"ok", replaced session id or '', replaced device or '', outbox...}; the outbox
-- (every kick in it, this one included) as flat session id, "<notify> <device> <payload>" pairs.
redis.call('HSET', KEYS[1], 'device', ARGV[3], 'platform', ARGV[4], 'expires_at', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[6])
local old = redis.call('GET', KEYS[2])
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[6])
local out = {'ok', '', ''}
if old and old ~= ARGV[2] then
  -- Same hash tag as KEYS[1], so the same cluster slot.
  local old_key = '{u:' .. ARGV[1] .. '}:sess:' .. old
  local old_device = redis.call('HGET', old_key, 'device')
  redis.call('DEL', old_key)
  if old_device then
    -- The same device logging in again replaces its own session: disconnect the old connection
    -- (the broker matches the session id) but don't tell the device it was kicked.
    local notify = old_device ~= ARGV[3] and '1' or '0'
    redis.call('HSET', KEYS[3], old, notify .. ' ' .. old_device .. ' ' .. ARGV[7])
    redis.call('EXPIRE', KEYS[3], ARGV[6])
    out = {'ok', old, old_device}
  end
end
for _, v in ipairs(redis.call('HGETALL', KEYS[3])) do out[#out + 1] = v end
return out
