#!lua
-- A notification into a group's feed (receipt.read, message.recalled), in the group's slot, as
-- a step of an operation: the caller must be a member; a repeated step (same marker) appends
-- nothing and returns the same fseq. The fan-out task is the caller's to queue.
--
-- KEYS  1 members  2 conv meta  3 feed  4 the step's marker  5 (recall) the recalled set
-- ARGV  1 caller  2 envelope rest  3 user to skip (or '')  4 marker ttl (s)
--       5 (recall) the recalled conv_seq
-- Returns {"ok", fseq} | {"not_member"}
--@include group
local done = tonumber(redis.call('GET', KEYS[4]))
if done then return {'ok', done} end
if not role_of(KEYS[1], ARGV[1]) then return {'not_member'} end
if KEYS[5] then redis.call('SADD', KEYS[5], ARGV[5]) end
local fseq = feed_notification(KEYS[2], KEYS[3], ARGV[2], '', ARGV[3])
redis.call('SET', KEYS[4], fseq, 'EX', ARGV[4])
return {'ok', fseq}
