#!lua
-- The target of a friend request accepts or rejects it: the first step, in the caller's slot
-- (docs/design.md, "Cross-slot operations"). It consumes the request, writes the caller's side
-- of the friendship on accept, and records the answer in a marker; the requester's side and
-- notification are the next steps, and the last one deletes the marker. A repeat while the
-- marker is there (a retry after a crash) consumes nothing and returns the recorded answer, so
-- the retry completes the steps; a repeat after the marker is gone finds no request.
--
-- KEYS  1 caller session  2 caller freq  3 caller freqin  4 caller friends
--       5 marker {u:<caller>}:op:answer:<request id>
-- ARGV  1 request id  2 "accept" | "reject"  3 now (ms): the friendship's start
--       4 marker ttl (s); 0 for no marker (a crossed request, friend_request.lua: until this
--       step the request stays pending, which leads a retry back here)
-- Returns {"ok", requester, since ('' on reject)} | {"unauthorized"} | {"not_found"}
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unauthorized'} end
local rid, verb = ARGV[1], ARGV[2]
local done = redis.call('GET', KEYS[5])
if done then
  local answered, from, since = string.match(done, '^(%a+) (%S+) ?(%d*)$')
  -- The other answer lost the race: the request was answered.
  if answered ~= verb then return {'not_found'} end
  return {'ok', from, since}
end
local request = redis.call('HGET', KEYS[2], rid)
if not request then return {'not_found'} end
local from = cjson.decode(request)['from']
redis.call('HDEL', KEYS[2], rid)
if redis.call('HGET', KEYS[3], from) == rid then redis.call('HDEL', KEYS[3], from) end
local since = ''
if verb == 'accept' then
  redis.call('HSETNX', KEYS[4], from, ARGV[3])
  since = redis.call('HGET', KEYS[4], from)
end
if ARGV[4] ~= '0' then
  redis.call('SET', KEYS[5], verb .. ' ' .. from .. ' ' .. since, 'EX', ARGV[4])
end
return {'ok', from, since}
