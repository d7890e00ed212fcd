#!lua
-- Acknowledges entries of a queue shard's stream only while the caller holds the shard's lease:
-- a downlink that was paused past its lease (another one took the shard) acknowledges nothing,
-- and learns that the shard is no longer its own. Both keys are in the shard's slot.
--
-- KEYS  1 the lease ({dq:<n>}:owner)  2 the stream
-- ARGV  1 consumer name  2 group  3.. entry ids
-- Returns the number of entries acknowledged, or -1 when the lease does not name the caller.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
return redis.call('XACK', KEYS[2], ARGV[2], unpack(ARGV, 3))
