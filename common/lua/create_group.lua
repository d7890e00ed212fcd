#!lua
-- Creates a group, in the group's slot: the creator is its owner, the listed users its members
-- (their session and existence were checked before); a group.created notification enters the
-- feed (and so every member's inbox, once the fan-out task is queued: the next step).
--
-- KEYS  1 group  2 members  3 joined  4 conv meta  5 feed
-- ARGV  1 name  2 owner  3 ts (ms)  4 group.created envelope rest  5.. the other members
--       (distinct, not the owner)
-- Returns {"ok" | "conflict", fseq of the fan-out task to queue, or 0}
--@include group
if redis.call('EXISTS', KEYS[1]) == 1 then return {'conflict', fanout_due(KEYS[4])} end
redis.call('HSET', KEYS[1], 'name', ARGV[1], 'owner', ARGV[2], 'created_at', ARGV[3])
local fseq = feed_notification(KEYS[4], KEYS[5], ARGV[4], '', '')
redis.call('HSET', KEYS[2], ARGV[2], 'owner')
redis.call('HSET', KEYS[3], ARGV[2], fseq)
for i = 5, #ARGV do
  redis.call('HSET', KEYS[2], ARGV[i], 'member')
  redis.call('HSET', KEYS[3], ARGV[i], fseq)
end
return {'ok', fanout_due(KEYS[4])}
