#!lua
-- A send refused after send_begin opened its record (the sender is not, or no longer, a member
-- of the group or room), in the sender's slot: the open record is deleted, so the refusal
-- leaves nothing behind, and its rate token is given back. A finished send is never touched.
--
-- KEYS  1 cmid record  2 sender rate bucket
-- ARGV  1 id  2 send burst
-- Returns {"ok"}
local rec = redis.call('HMGET', KEYS[1], 'id', 'state')
if rec[1] ~= ARGV[1] or rec[2] ~= 'open' then return {'ok'} end
redis.call('DEL', KEYS[1])
local tokens = tonumber(redis.call('HGET', KEYS[2], 'tokens'))
if tokens then
  redis.call('HSET', KEYS[2], 'tokens', tostring(math.min(tonumber(ARGV[2]), tokens + 1)))
end
return {'ok'}
