#!lua
-- A device acknowledges its inbox up to a seq, and learns the inbox's latest seq and epoch.
-- KEYS  1 session  2 inbox meta  3 acks
-- ARGV  1 device  2 seq  3 epoch candidate
-- Returns {"ok", latest_seq, epoch} | {"unauthorized"}
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unauthorized'} end
local epoch = redis.call('HGET', KEYS[2], 'epoch')
if not epoch then
  epoch = ARGV[3]
  redis.call('HSET', KEYS[2], 'epoch', epoch)
end
local latest = tonumber(redis.call('HGET', KEYS[2], 'seq')) or 0
local acked = math.min(tonumber(ARGV[2]), latest)
local before = tonumber(redis.call('HGET', KEYS[3], ARGV[1])) or 0
if acked > before then redis.call('HSET', KEYS[3], ARGV[1], acked) end
return {'ok', latest, epoch}
