-- A signal (typing, …): checked like a send (session, rights, the sender's rate limit),
-- pushed once, never stored.
-- KEYS  1 sender session  2 sender rate bucket
--       direct: 3 recipient user  4 recipient delivery stream
--       group:  3 members  4 fan-out stream  5 group
-- ARGV  1 "direct" | "group"  2 sender  3 recipient | conv  4 payload  5 messaging policy
--       6 stream max length  7 now (ms)  8 send rate (/s)  9 send burst
-- Returns {"ok"} | {"unauthorized"} | {"not_found"} | {"blocked"} | {"not_friends"}
--       | {"not_member"} | {"rate_limited", retry_after_ms}
--@include send
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unauthorized'} end
local sender = ARGV[2]
if ARGV[1] == 'direct' then
  local to = ARGV[3]
  if redis.call('EXISTS', KEYS[3]) == 0 then return {'not_found'} end
  if to ~= sender then
    if redis.call('SISMEMBER', '{u:' .. to .. '}:blocks', sender) == 1 then return {'blocked'} end
    if ARGV[5] == 'friends' and
       redis.call('HEXISTS', '{u:' .. sender .. '}:friends', to) == 0 then
      return {'not_friends'}
    end
  end
else
  if redis.call('HEXISTS', KEYS[3], sender) == 0 then
    if redis.call('EXISTS', KEYS[5]) == 0 then return {'not_found'} end
    return {'not_member'}
  end
end
local wait = take_send_token(KEYS[2], tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]))
if wait then return {'rate_limited', wait} end
if ARGV[1] == 'direct' then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[6], '*', 'u', ARGV[3], 'k', 'inbox', 'p',
             ARGV[4])
else
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[6], '*', 'k', 'signal', 'c', ARGV[3], 'x',
             sender, 'p', ARGV[4])
end
return {'ok'}
