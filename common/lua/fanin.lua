#!lua
-- Copies a run of a group's feed into one member's inbox (the downlink's fan-out), exactly
-- once: entries at or below the inbox's cursor for the group were copied before and are
-- skipped, so the fan-out can be repeated after a crash, or done twice at once, safely.
--
-- It touches only the user's slot. The pushes of what it appended are the caller's to queue
-- (an XADD to the user's delivery stream, which is in another slot). Should the caller die
-- between this script and those XADDs, the fan-out task is repeated; the repeated run then
-- skips entries of this group's last appended run, and the script returns that run again (read
-- back from the inbox) for the caller to queue: pushes are queued at least once, and a device
-- drops a duplicate by seq.
--
-- KEYS  1 the user's inbox meta
-- ARGV  1 user  2 conv  3 epoch candidate  4 now (ms)  5 inbox max entries
--       6 inbox retention (ms)
--       7.. triples: fseq, "m:<conv_seq>:<from>" for a message or "n", envelope rest
--       (ascending fseq)
-- Returns {appended, requeued, seq, envelope, seq, envelope, ...}: the pushes to queue in seq
-- order, the `requeued` ones of the earlier run first, then the `appended` ones.
--@include inbox
local user, conv = ARGV[1], ARGV[2]
INBOX.max_entries, INBOX.retention_ms = ARGV[5], tonumber(ARGV[6])
local cursor_key = user_key(user, 'fanin')
local run_field = conv .. '#run'  -- "<first fseq>:<first seq>:<last seq>" of the last run
local cursor = tonumber(redis.call('HGET', cursor_key, conv)) or 0
local now = tonumber(ARGV[4])
local skipped_from = nil  -- the highest fseq skipped as already copied
local appended = {}
local first_fseq = nil
for i = 7, #ARGV - 2, 3 do
  local fseq = tonumber(ARGV[i])
  if fseq > cursor then
    local msg = nil
    local conv_seq, from = string.match(ARGV[i + 1], '^m:(%d+):(.*)$')
    if conv_seq then msg = {conv = conv, conv_seq = tonumber(conv_seq), from = from} end
    local seq, env = inbox_put(user, ARGV[3], ARGV[i + 2], now, msg)
    appended[#appended + 1] = seq
    appended[#appended + 1] = env
    first_fseq = first_fseq or fseq
    cursor = fseq
  else
    skipped_from = fseq
  end
end

local out = {0, 0}
if skipped_from then
  local run = redis.call('HGET', cursor_key, run_field)
  local run_fseq, first_seq, last_seq = string.match(run or '', '^(%d+):(%d+):(%d+)$')
  if run_fseq and skipped_from >= tonumber(run_fseq) then
    local entries = redis.call('XRANGE', user_key(user, 'inbox'), first_seq .. '-0',
                               last_seq .. '-0')
    for _, entry in ipairs(entries) do
      local fields = entry[2]
      for f = 1, #fields - 1, 2 do
        if fields[f] == 'e' then
          out[#out + 1] = tonumber(string.match(entry[1], '^(%d+)'))
          out[#out + 1] = fields[f + 1]
          out[2] = out[2] + 1
        end
      end
    end
  end
end
if #appended > 0 then
  redis.call('HSET', cursor_key, conv, cursor, run_field,
             first_fseq .. ':' .. appended[1] .. ':' .. appended[#appended - 1])
  for k = 1, #appended do out[#out + 1] = appended[k] end
  out[1] = #appended / 2
end
return out
