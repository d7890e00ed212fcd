-- Creates a group: the creator is its owner, the listed users its members; a group.created
-- notification enters the feed (and so every member's inbox).
--
-- KEYS  1 creator session  2 group  3 members  4 joined  5 conv meta  6 feed  7 fan-out stream
-- ARGV  1 conv  2 name  3 owner  4 ts (ms)  5 stream max length
--       6 group.created envelope rest  7.. the other members (distinct, not the owner)
-- Returns {"ok"} | {"unauthorized"} | {"conflict"} | {"not_found", user}
--@include group
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unauthorized'} end
if redis.call('EXISTS', KEYS[2]) == 1 then return {'conflict'} end
for i = 7, #ARGV do
  if redis.call('EXISTS', '{u:' .. ARGV[i] .. '}:user') == 0 then return {'not_found', ARGV[i]} end
end
redis.call('HSET', KEYS[2], 'name', ARGV[2], 'owner', ARGV[3], 'created_at', ARGV[4])
local fseq = feed_notification(KEYS[5], KEYS[6], ARGV[6], '', '')
redis.call('HSET', KEYS[3], ARGV[3], 'owner')
redis.call('HSET', KEYS[4], ARGV[3], fseq)
for i = 7, #ARGV do
  redis.call('HSET', KEYS[3], ARGV[i], 'member')
  redis.call('HSET', KEYS[4], ARGV[i], fseq)
end
queue_fanout(KEYS[7], ARGV[5], ARGV[1], fseq)
return {'ok'}
