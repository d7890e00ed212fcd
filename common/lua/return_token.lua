#!lua
-- Gives back one token that take_token.lua took, for an attempt that turned out not to count;
-- never above the burst (a bucket that is full again is deleted).
--
-- KEYS  1 bucket
-- ARGV  1 now (ms)  2 rate (tokens per second)  3 burst
-- Returns {"ok"}
--@include bucket
local now, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens = bucket_level(KEYS[1], now, rate, burst)
bucket_store(KEYS[1], now, rate, burst, math.min(burst, tokens + 1))
return {'ok'}
