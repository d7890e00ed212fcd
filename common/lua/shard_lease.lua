#!lua
-- A downlink's lease on one queue shard ({dq:<n>} or {fq:<n>}): while it names the downlink,
-- that downlink alone reads and acknowledges the shard's stream. In the shard's own slot.
--
-- KEYS  1 the lease ({dq:<n>}:owner)
-- ARGV  1 take | renew | release  2 consumer name  3 lease length (ms)
-- take: sets the lease when it is free, or extends it when it already names the caller (a
-- restarted downlink keeps its shards); renew: extends it only when it names the caller;
-- release: deletes it only when it names the caller.
-- Returns 1 when the lease is (take, renew) or was (release) the caller's, else 0.
local owner = redis.call('GET', KEYS[1])
if ARGV[1] == 'take' and not owner then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
if owner ~= ARGV[2] then return 0 end
if ARGV[1] == 'release' then
  redis.call('DEL', KEYS[1])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 1
