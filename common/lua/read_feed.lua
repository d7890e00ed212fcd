#!lua
-- A consistent snapshot of a group for its fan-out: the watermark, the feed entries after it,
-- and the membership intervals.
-- KEYS  1 conv meta  2 feed  3 joined  4 left
-- ARGV  1 max entries
-- Returns {fanned, entries, joined (flat hash), left (flat hash)}; entries are
-- [id, [field, value, ...]] as XRANGE gives them.
local fanned = tonumber(redis.call('HGET', KEYS[1], 'fanned')) or 0
local entries = redis.call('XRANGE', KEYS[2], (fanned + 1) .. '-0', '+', 'COUNT', ARGV[1])
return {fanned, entries, redis.call('HGETALL', KEYS[3]), redis.call('HGETALL', KEYS[4])}
