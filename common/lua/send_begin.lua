#!lua
-- The first step of every send, in the sender's slot (docs/design.md, "Cross-slot operations"):
-- session check, de-duplication by cmid, messaging policy, rate limit, and the cmid record
-- opened with what a retry needs to finish the send (id, conv, ts, envelope parts). The record
-- carries a lease: while one request works on the send, a concurrent retry is told to wait; a
-- retry after the lease (the first request died or gave up) resumes the send where it stopped.
--
-- KEYS  1 sender session  2 cmid record  3 sender rate bucket  4 sender's friends
-- ARGV  1 id  2 conv  3 now (ms)  4 envelope head  5 envelope tail  6 target (recipient user,
--       group or room id)  7 cmid window (s)  8 send rate (/s)  9 send burst
--      10 "1" when only friends may be messaged  11 lease (ms)
-- Returns {"ok"} (a new send) | {"dup", id, conv, conv_seq, ts} (finished earlier)
--       | {"resume", id, conv, ts, head, tail} (opened earlier, not finished; the lease is ours)
--       | {"busy", wait_ms} | {"unauthorized"} | {"not_friends"} | {"rate_limited", wait_ms}
--@include send
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unauthorized'} end
local now = tonumber(ARGV[3])
local rec = redis.call('HMGET', KEYS[2], 'id', 'conv', 'conv_seq', 'ts', 'state', 'until', 'h',
                       't')
if rec[1] then
  if rec[5] ~= 'open' then
    return {'dup', rec[1], rec[2], tonumber(rec[3]), tonumber(rec[4])}
  end
  local lease_until = tonumber(rec[6]) or 0
  if lease_until > now then return {'busy', lease_until - now} end
  redis.call('HSET', KEYS[2], 'until', tostring(now + tonumber(ARGV[11])))
  return {'resume', rec[1], rec[2], tonumber(rec[4]), rec[7], rec[8]}
end
if ARGV[10] == '1' and redis.call('HEXISTS', KEYS[4], ARGV[6]) == 0 then
  return {'not_friends'}
end
local wait = take_send_token(KEYS[3], now, tonumber(ARGV[8]), tonumber(ARGV[9]))
if wait then return {'rate_limited', wait} end
redis.call('HSET', KEYS[2], 'id', ARGV[1], 'conv', ARGV[2], 'ts', ARGV[3], 'state', 'open',
           'until', tostring(now + tonumber(ARGV[11])), 'h', ARGV[4], 't', ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[7])
return {'ok'}
