-- A one-to-one send, atomically: session check, de-duplication by cmid, rate limit,
-- conv_seq, history entry, an inbox entry (seq, epoch) for the recipient and one for the
-- sender (a single one for a message to oneself), and a delivery-queue entry per inbox entry.
--
-- KEYS  1 sender session   2 cmid record      3 sender rate bucket  4 recipient user
--       5 conv meta        6 conv log
--       7 recipient meta   8 recipient inbox  9 recipient delivery stream
--      10 sender meta     11 sender inbox    12 sender delivery stream
-- ARGV  1 id  2 conv  3 ts (ms)  4 envelope head  5 envelope tail
--       6 recipient  7 sender  8 recipient epoch candidate  9 sender epoch candidate
--      10 cmid window (s)  11 inbox max entries  12 inbox retention (ms)
--      13 send rate (/s)  14 send burst  15 delivery stream max length
-- Returns {"ok"|"dup", id, conv, conv_seq, ts} | {"unauthorized"} | {"not_found"}
--       | {"rate_limited", retry_after_ms}
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unauthorized'} end

local prev = redis.call('HMGET', KEYS[2], 'id', 'conv', 'conv_seq', 'ts')
if prev[1] then return {'dup', prev[1], prev[2], tonumber(prev[3]), tonumber(prev[4])} end

if redis.call('EXISTS', KEYS[4]) == 0 then return {'not_found'} end

local now = tonumber(ARGV[3])
local rate, burst = tonumber(ARGV[13]), tonumber(ARGV[14])
local bucket = redis.call('HMGET', KEYS[3], 'tokens', 'at')
local tokens = tonumber(bucket[1]) or burst
local at = tonumber(bucket[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
if tokens < 1 then return {'rate_limited', math.ceil((1 - tokens) * 1000 / rate)} end
redis.call('HSET', KEYS[3], 'tokens', tostring(tokens - 1), 'at', ARGV[3])
redis.call('PEXPIRE', KEYS[3], math.ceil(burst * 1000 / rate) + 1000)

local conv_seq = redis.call('HINCRBY', KEYS[5], 'seq', 1)
local head, tail = ARGV[4], ARGV[5]
redis.call('XADD', KEYS[6], conv_seq .. '-0', 'e',
           '{' .. head .. ',"conv_seq":' .. conv_seq .. ',' .. tail)

local max_entries, retention = ARGV[11], tonumber(ARGV[12])
local function append(meta, inbox, stream, user, epoch_candidate)
  local seq = redis.call('HINCRBY', meta, 'seq', 1)
  local epoch = redis.call('HGET', meta, 'epoch')
  if not epoch then
    epoch = epoch_candidate
    redis.call('HSET', meta, 'epoch', epoch)
  end
  local env = '{"seq":' .. seq .. ',"epoch":"' .. epoch .. '",' .. head .. ',"conv_seq":' ..
              conv_seq .. ',' .. tail
  redis.call('XADD', inbox, 'MAXLEN', '~', max_entries, seq .. '-0', 'e', env, 't', ARGV[3])
  -- Age-based retention, checked at most once an hour per inbox so a send stays O(1).
  local checked = tonumber(redis.call('HGET', meta, 'trimmed_at')) or 0
  if now - checked > 3600000 then
    redis.call('HSET', meta, 'trimmed_at', ARGV[3])
    local oldest = redis.call('XRANGE', inbox, '-', '+', 'COUNT', 64)
    local keep_from = nil
    for _, entry in ipairs(oldest) do
      if (tonumber(entry[2][4]) or now) >= now - retention then
        keep_from = entry[1]
        break
      end
    end
    if keep_from == nil and #oldest > 0 then
      keep_from = (tonumber(string.match(oldest[#oldest][1], '^(%d+)')) + 1) .. '-0'
    end
    if keep_from ~= nil then redis.call('XTRIM', inbox, 'MINID', keep_from) end
  end
  redis.call('XADD', stream, 'MAXLEN', '~', ARGV[15], '*', 'u', user, 'k', 'inbox', 'p', env)
end

append(KEYS[7], KEYS[8], KEYS[9], ARGV[6], ARGV[8])
if ARGV[6] ~= ARGV[7] then append(KEYS[10], KEYS[11], KEYS[12], ARGV[7], ARGV[9]) end

redis.call('HSET', KEYS[2], 'id', ARGV[1], 'conv', ARGV[2], 'conv_seq', conv_seq, 'ts', ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[10])
return {'ok', ARGV[1], ARGV[2], conv_seq, now}
