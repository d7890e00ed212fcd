#!lua
-- Blocks or unblocks a user, in the caller's slot; that the other user exists is checked before.
-- KEYS  1 caller session  2 caller's block set
-- ARGV  1 "add" | "remove"  2 the other user's id
-- Returns {"ok"} | {"unauthorized"}
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unauthorized'} end
if ARGV[1] == 'add' then
  redis.call('SADD', KEYS[2], ARGV[2])
else
  redis.call('SREM', KEYS[2], ARGV[2])
end
return {'ok'}
