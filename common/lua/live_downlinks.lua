#!lua
-- The live downlinks: a sorted set of consumer names scored by when their heartbeat expires
-- (Redis's clock, so the downlinks' clocks need not agree). One key, one slot.
--
-- KEYS  1 {downlinks}:live
-- ARGV  1 beat | leave  2 consumer name  3 heartbeat length (ms)
-- beat: the caller is alive for ARGV[3] more; returns the live names. leave: removes the
-- caller (a clean stop); returns the others.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[1] == 'leave' then
  redis.call('ZREM', KEYS[1], ARGV[2])
else
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
  redis.call('PEXPIRE', KEYS[1], 4 * tonumber(ARGV[3]))  -- gone once every downlink is
end
return redis.call('ZRANGE', KEYS[1], 0, -1)
