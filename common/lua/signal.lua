-- A signal (typing, …): checked like a send, pushed once, never stored.
-- KEYS  1 sender session
--       direct: 2 recipient user  3 recipient delivery stream
--       group:  2 members  3 fan-out stream  4 group
-- ARGV  1 "direct" | "group"  2 sender  3 recipient | conv  4 payload  5 messaging policy
--       6 stream max length
-- Returns {"ok"} | {"unauthorized"} | {"not_found"} | {"blocked"} | {"not_friends"}
--       | {"not_member"}
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unauthorized'} end
local sender = ARGV[2]
if ARGV[1] == 'direct' then
  local to = ARGV[3]
  if redis.call('EXISTS', KEYS[2]) == 0 then return {'not_found'} end
  if to ~= sender then
    if redis.call('SISMEMBER', '{u:' .. to .. '}:blocks', sender) == 1 then return {'blocked'} end
    if ARGV[5] == 'friends' and
       redis.call('HEXISTS', '{u:' .. sender .. '}:friends', to) == 0 then
      return {'not_friends'}
    end
  end
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'u', to, 'k', 'inbox', 'p', ARGV[4])
else
  if redis.call('HEXISTS', KEYS[2], sender) == 0 then
    if redis.call('EXISTS', KEYS[4]) == 0 then return {'not_found'} end
    return {'not_member'}
  end
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', 'k', 'signal', 'c', ARGV[3], 'x',
             sender, 'p', ARGV[4])
end
return {'ok'}
