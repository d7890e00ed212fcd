#!lua
-- Moves the caller's read mark of a conversation (never back), in the caller's slot, and lowers
-- the unread count to at most the messages after the mark among those this inbox holds. The
-- receipt to the other members is a separate step (RedisSocialStore::MarkRead).
--
-- KEYS  1 caller session  2 read marks  3 conversations' newest envelopes  4 unread counts
-- ARGV  1 conv  2 conv_seq read (already clamped to the conversation's newest)
-- Returns {"ok", read} (the mark after the call) | {"unauthorized"}
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unauthorized'} end
local conv, upto = ARGV[1], tonumber(ARGV[2])
local read = tonumber(redis.call('HGET', KEYS[2], conv)) or 0
if upto <= read then return {'ok', read} end
redis.call('HSET', KEYS[2], conv, upto)
local last = redis.call('HGET', KEYS[3], conv)
local last_seq = last and tonumber(string.match(last, '"conv_seq":(%d+)')) or 0
local unread = tonumber(redis.call('HGET', KEYS[4], conv)) or 0
redis.call('HSET', KEYS[4], conv, math.min(unread, math.max(0, last_seq - upto)))
return {'ok', upto}
