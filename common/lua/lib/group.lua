-- lib/group.lua: the group's feed. Everything that happens in a group (messages, membership
-- changes, its notifications) is one feed entry with the next fseq, and a fan-out task (queued
-- as the next step: the fan-out streams are in other slots) tells the downlink to copy the feed
-- into the members' inboxes (fanin.lua).

-- Appends a notification to the feed; `subject` is the user it is about (or ''), `skip` a
-- user it is not for (or ''). Returns the entry's fseq.
local function feed_notification(meta, feed, rest, subject, skip)
  local fseq = redis.call('HINCRBY', meta, 'fseq', 1)
  redis.call('XADD', feed, fseq .. '-0', 'b', rest, 'u', subject, 'x', skip)
  return fseq
end

-- The fan-out task in the same script: for the scripts not split yet (mark_read, recall).
-- The feed's last fseq if some entry is not fanned out yet, else 0: the fan-out task to queue
-- after a step in the group's slot. A task lost in a crash before its XADD is queued again by
-- the next step on the group (a retry), and two tasks for one run of the feed are harmless.
local function fanout_due(meta)
  local m = redis.call('HMGET', meta, 'fseq', 'fanned')
  local fseq, fanned = tonumber(m[1]) or 0, tonumber(m[2]) or 0
  if fseq > fanned then return fseq end
  return 0
end

-- The envelope rest of group.role_changed. Ids are valid ids (no characters to escape).
local function role_changed_rest(group_id, user, role, by, now)
  return '"type":"notification","event":"group.role_changed","data":{"group_id":"' ..
         group_id .. '","user_id":"' .. user .. '","role":"' .. role .. '","by":"' .. by ..
         '"},"ts":' .. now .. '}'
end

-- The caller's role in the group, or nil when not a member.
local function role_of(members, user)
  local role = redis.call('HGET', members, user)
  if role then return role end
  return nil
end
