-- lib/inbox.lua: appending to a user's inbox, shared by every script that writes inboxes.
-- The including script sets INBOX.max_entries and INBOX.retention_ms.
local INBOX = {max_entries = 10000, retention_ms = 2592000000}

local function user_key(user, suffix) return '{u:' .. user .. '}:' .. suffix end

-- Age-based retention, checked at most once an hour per inbox so an append stays O(1).
local function trim_by_age(meta, inbox, now)
  local checked = tonumber(redis.call('HGET', meta, 'trimmed_at')) or 0
  if now - checked <= 3600000 then return end
  redis.call('HSET', meta, 'trimmed_at', tostring(now))
  local oldest = redis.call('XRANGE', inbox, '-', '+', 'COUNT', 64)
  local keep_from = nil
  for _, entry in ipairs(oldest) do
    if (tonumber(entry[2][4]) or now) >= now - INBOX.retention_ms then
      keep_from = entry[1]
      break
    end
  end
  if keep_from == nil and #oldest > 0 then
    keep_from = (tonumber(string.match(oldest[#oldest][1], '^(%d+)')) + 1) .. '-0'
  end
  if keep_from ~= nil then redis.call('XTRIM', inbox, 'MINID', keep_from) end
end

-- Appends one entry to `user`'s inbox, touching only the user's slot ({u:<user>}); the push is
-- the caller's to queue (a delivery stream lives in another slot). `rest` is the envelope after
-- its opening '{"seq":S,"epoch":"E",'. `msg` is nil for a notification, or {conv, conv_seq,
-- from} for a message, which also updates the user's conversation list (and their read mark,
-- when they sent it). Returns the seq and the whole envelope.
local function inbox_put(user, epoch_candidate, rest, now, msg)
  local meta, inbox = user_key(user, 'meta'), user_key(user, 'inbox')
  local seq = redis.call('HINCRBY', meta, 'seq', 1)
  local epoch = redis.call('HGET', meta, 'epoch')
  if not epoch then
    epoch = epoch_candidate
    redis.call('HSET', meta, 'epoch', epoch)
  end
  local env = '{"seq":' .. seq .. ',"epoch":"' .. epoch .. '",' .. rest
  redis.call('XADD', inbox, 'MAXLEN', '~', INBOX.max_entries, seq .. '-0', 'e', env, 't',
             tostring(now))
  trim_by_age(meta, inbox, now)
  if msg then
    redis.call('ZADD', user_key(user, 'convs'), seq, msg.conv)
    redis.call('HSET', user_key(user, 'convlast'), msg.conv, env)
    if msg.from == user then
      -- Sending implies having read what came before.
      local read_key = user_key(user, 'convread')
      local read = tonumber(redis.call('HGET', read_key, msg.conv)) or 0
      if msg.conv_seq > read then redis.call('HSET', read_key, msg.conv, msg.conv_seq) end
      redis.call('HSET', user_key(user, 'convunread'), msg.conv, 0)
    else
      redis.call('HINCRBY', user_key(user, 'convunread'), msg.conv, 1)
    end
  end
  return seq, env
end
