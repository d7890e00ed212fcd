-- Joins or leaves a room. Leaving queues a room_leave command in the room's delivery shard, so
-- the broker stops delivering the room to the user before any later room message.
-- KEYS  1 caller session  2 room members  3 the room's delivery stream
-- ARGV  1 "join" | "leave"  2 caller  3 room id  4 stream max length
-- Returns {"ok"} | {"unauthorized"}
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unauthorized'} end
if ARGV[1] == 'join' then
  redis.call('SADD', KEYS[2], ARGV[2])
else
  redis.call('SREM', KEYS[2], ARGV[2])
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'k', 'roomctl', 'r', ARGV[3], 'u',
             ARGV[2])
end
return {'ok'}
