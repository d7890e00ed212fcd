#!lua
-- Takes one token from a bucket (lib/bucket.lua) if it holds one; an empty bucket is left as it is.
--
-- KEYS  1 bucket
-- ARGV  1 now (ms)  2 rate (tokens per second)  3 burst
-- Returns {"ok"} | {"rate_limited", ms until the next token}
--@include bucket
local now, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens = bucket_level(KEYS[1], now, rate, burst)
if tokens < 1 then return {'rate_limited', math.ceil((1 - tokens) * 1000 / rate)} end
bucket_store(KEYS[1], now, rate, burst, tokens - 1)
return {'ok'}
