-- Blocks or unblocks a user.
-- KEYS  1 caller session  2 caller's block set  3 the other user
-- ARGV  1 "add" | "remove"  2 the other user's id
-- Returns {"ok"} | {"unauthorized"} | {"not_found"}
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unauthorized'} end
if ARGV[1] == 'add' then
  if redis.call('EXISTS', KEYS[3]) == 0 then return {'not_found'} end
  redis.call('SADD', KEYS[2], ARGV[2])
else
  redis.call('SREM', KEYS[2], ARGV[2])
end
return {'ok'}
