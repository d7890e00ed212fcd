-- lib/bucket.lua: token buckets for attempts counted per user or per address (logins,
-- registrations). A bucket is a hash {tokens, at}: `burst` tokens when full, refilled at `rate`
-- per second. A missing key is a full bucket, and a bucket is stored only while it is not full:
-- its key expires when the refill would have filled it, so idle buckets (and those of user ids
-- nobody registered) cost nothing.

-- The bucket's tokens at `now` (ms), refill included.
local function bucket_level(key, now, rate, burst)
  local bucket = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(bucket[1])
  if not tokens then return burst end
  local at = tonumber(bucket[2]) or now
  return math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
end

-- Stores `tokens` as the level at `now`; a full bucket is deleted instead.
local function bucket_store(key, now, rate, burst, tokens)
  if tokens >= burst then
    redis.call('DEL', key)
    return
  end
  redis.call('HSET', key, 'tokens', tostring(tokens), 'at', tostring(now))
  redis.call('PEXPIRE', key, math.ceil((burst - tokens) * 1000 / rate) + 1000)
end
