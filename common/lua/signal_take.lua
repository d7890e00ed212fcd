#!lua
-- A signal's step in the sender's slot: session, messaging policy and the sender's rate limit
-- (a signal counts like a send). The recipient's side was checked before; the push is queued
-- after (RedisSocialStore::Signal).
--
-- KEYS  1 sender session  2 sender rate bucket  3 sender's friends
-- ARGV  1 now (ms)  2 send rate (/s)  3 send burst  4 "1" when only friends may be signalled
--       5 the recipient
-- Returns {"ok"} | {"unauthorized"} | {"not_friends"} | {"rate_limited", retry_after_ms}
--@include send
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unauthorized'} end
if ARGV[4] == '1' and redis.call('HEXISTS', KEYS[3], ARGV[5]) == 0 then return {'not_friends'} end
local wait = take_send_token(KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
if wait then return {'rate_limited', wait} end
return {'ok'}
