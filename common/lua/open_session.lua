-- Single sign-on: the new session becomes the user's one live session on its platform; the
-- replaced one is deleted (its token stops working) and its device is told and disconnected
-- through the delivery queue.
-- KEYS  1 new session  2 platform's live session  3 the user's delivery stream
-- ARGV  1 user  2 session id  3 device  4 platform  5 expires at (ms)  6 ttl (s)
--       7 kicked payload  8 delivery stream max length
-- Returns {"ok"} | {"ok", replaced session id, replaced device}
redis.call('HSET', KEYS[1], 'device', ARGV[3], 'platform', ARGV[4], 'expires_at', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[6])
local old = redis.call('GET', KEYS[2])
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[6])
if not old or old == ARGV[2] then return {'ok'} end
-- Same hash tag as KEYS[1], so the same cluster slot.
local old_key = '{u:' .. ARGV[1] .. '}:sess:' .. old
local old_device = redis.call('HGET', old_key, 'device')
redis.call('DEL', old_key)
if not old_device then return {'ok'} end
-- The same device logging in again replaces its own session: disconnect the old connection
-- (the broker matches the session id) but don't tell the device it was kicked.
local notify = old_device ~= ARGV[3] and '1' or '0'
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[8], '*', 'u', ARGV[1], 'k', 'control',
           'd', old_device, 's', old, 'n', notify, 'p', ARGV[7])
return {'ok', old, old_device}
