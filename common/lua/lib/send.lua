-- lib/send.lua: the checks and records every send shares.

-- The sender's token bucket; returns nil when a token was taken, else the wait in ms.
local function take_send_token(key, now, rate, burst)
  local bucket = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(bucket[1]) or burst
  local at = tonumber(bucket[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
  if tokens < 1 then return math.ceil((1 - tokens) * 1000 / rate) end
  redis.call('HSET', key, 'tokens', tostring(tokens - 1), 'at', tostring(now))
  redis.call('PEXPIRE', key, math.ceil(burst * 1000 / rate) + 1000)
  return nil
end

-- The earlier send with this cmid, as a script reply, or nil.
local function earlier_send(cmid_key)
  local prev = redis.call('HMGET', cmid_key, 'id', 'conv', 'conv_seq', 'ts')
  if prev[1] then return {'dup', prev[1], prev[2], tonumber(prev[3]), tonumber(prev[4])} end
  return nil
end

-- Records an accepted send: for de-duplication by cmid, and (index_key not '') for recall.
local function record_send(cmid_key, window_s, index_key, index_ttl_ms, id, conv, conv_seq,
                           from, now)
  redis.call('HSET', cmid_key, 'id', id, 'conv', conv, 'conv_seq', conv_seq, 'ts', tostring(now))
  redis.call('EXPIRE', cmid_key, window_s)
  if index_key ~= '' then
    redis.call('HSET', index_key, 'conv', conv, 'conv_seq', conv_seq, 'from', from, 'ts',
               tostring(now))
    redis.call('PEXPIRE', index_key, index_ttl_ms)
  end
end
