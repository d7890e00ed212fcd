-- Logout: the session ends, its device is told and disconnected through the delivery queue.
-- KEYS  1 session  2 platform's live session  3 the user's delivery stream
-- ARGV  1 user  2 session id  3 kicked payload  4 delivery stream max length
-- Returns {"ok"} | {"unauthorized"}
local device = redis.call('HGET', KEYS[1], 'device')
if not device then return {'unauthorized'} end
redis.call('DEL', KEYS[1])
if redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'u', ARGV[1], 'k', 'control',
           'd', device, 's', ARGV[2], 'n', '1', 'p', ARGV[3])
return {'ok'}
