#!lua
-- One page of a user's inbox.
-- KEYS  1 session  2 inbox meta  3 inbox
-- ARGV  1 first stream id to return ("<after + 1>-0", computed by the caller: Lua numbers
--         print large values in exponent form)  2 limit  3 epoch candidate (used only if the
--         inbox has no epoch)
-- Returns {"ok", epoch, latest_seq, has_more, seq1, env1, seq2, env2, ...} | {"unauthorized"}
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unauthorized'} end
local epoch = redis.call('HGET', KEYS[2], 'epoch')
if not epoch then
  epoch = ARGV[3]
  redis.call('HSET', KEYS[2], 'epoch', epoch)
end
local latest = tonumber(redis.call('HGET', KEYS[2], 'seq')) or 0
local limit = tonumber(ARGV[2])
local entries = redis.call('XRANGE', KEYS[3], ARGV[1], '+', 'COUNT', limit + 1)
local out = {'ok', epoch, latest, #entries > limit and 1 or 0}
for i = 1, math.min(#entries, limit) do
  local e = entries[i]
  out[#out + 1] = tonumber(string.match(e[1], '^(%d+)'))
  out[#out + 1] = e[2][2]
end
return out
