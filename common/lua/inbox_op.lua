#!lua
-- One inbox append in a user's slot, as a step of an operation that spans slots (docs/design.md,
-- "Cross-slot operations"): the first run appends and records the seq under the operation's
-- marker; a repeated run (a retry after a crash or a timeout) appends nothing and returns the
-- same entry. The push is the caller's to queue (the delivery stream is in another slot).
--
-- KEYS  1 the marker {u:<user>}:op:<operation>
-- ARGV  1 user  2 epoch candidate  3 envelope rest (after '{"seq":S,"epoch":"E",')  4 now (ms)
--       5 marker ttl (s)  6 inbox max entries  7 inbox retention (ms)
--       8 '' for a notification, or the message's conv  9 its conv_seq  10 its sender
-- Returns {seq, envelope}; the envelope is '' when the entry was appended by an earlier run and
-- has been trimmed since.
--@include inbox
local done = tonumber(redis.call('GET', KEYS[1]))
if done then
  local id = done .. '-0'
  local entry = redis.call('XRANGE', user_key(ARGV[1], 'inbox'), id, id)
  if #entry == 1 then return {done, entry[1][2][2]} end
  return {done, ''}
end
INBOX.max_entries, INBOX.retention_ms = ARGV[6], tonumber(ARGV[7])
local msg = nil
if ARGV[8] ~= '' then msg = {conv = ARGV[8], conv_seq = tonumber(ARGV[9]), from = ARGV[10]} end
local seq, env = inbox_put(ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), msg)
redis.call('SET', KEYS[1], seq, 'EX', ARGV[5])
return {seq, env}
