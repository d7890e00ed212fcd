#!lua
-- Deletes a hash field only if it still holds the value the caller saw: a stale report is
-- removed, a fresh one written since is kept (common/device_reports.h).
-- KEYS[1] the hash; ARGV[1] the field; ARGV[2] the value seen. Returns 1 if deleted, else 0.
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
