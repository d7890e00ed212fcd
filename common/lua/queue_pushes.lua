#!lua
-- Queues a user's inbox pushes on their delivery stream, in the stream's slot, in seq order and
-- once each (docs/design.md, "Cross-slot operations"). Inbox entries are written in the user's
-- slot by several requests at once (and by the downlink's fan-out), so their pushes may be
-- offered out of order or twice; the shard's cursor per user (the highest seq queued) keeps the
-- stream in order: entries at or below it are skipped, and when the entries offered start
-- above cursor + 1, nothing is queued and the caller is told to read the missing ones from the
-- inbox first (unless more than `catch-up` are missing: a device that far behind syncs, so
-- only the entries offered are pushed). A push whose request died before queuing it is thus
-- queued by the next push to the same user.
--
-- KEYS  1 the delivery stream  2 the shard's push cursors {dq:<n>}:pushed
-- ARGV  1 user  2 stream max length  3 catch-up  4.. triples: seq, envelope, request id (ascending
--       seq; the id of the request that wrote the entry, "" when unknown: written as field "req"
--       for the downlink's logs when not empty)
-- Returns {"ok", queued} | {"gap", cursor}
local user = ARGV[1]
local cursor = tonumber(redis.call('HGET', KEYS[2], user)) or 0
local first = tonumber(ARGV[4])
if first and first > cursor + 1 and first - cursor - 1 <= tonumber(ARGV[3]) then
  return {'gap', cursor}
end
local queued = 0
for i = 4, #ARGV - 2, 3 do
  local seq = tonumber(ARGV[i])
  if seq > cursor then
    if ARGV[i + 2] ~= '' then
      redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'u', user, 'k', 'inbox', 'p',
                 ARGV[i + 1], 'req', ARGV[i + 2])
    else
      redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'u', user, 'k', 'inbox', 'p',
                 ARGV[i + 1])
    end
    cursor = seq
    queued = queued + 1
  end
end
if queued > 0 then redis.call('HSET', KEYS[2], user, cursor) end
return {'ok', queued}
