// RateLimiter over Redis: one bucket is one hash (common/keys.h: LoginFailures,
// AddressLoginFailures, AddressRegistrations), each Take() and GiveBack() one Lua script
// (common/lua/take_token.lua, return_token.lua) touching that one key, so one slot of a Redis
// Cluster. A bucket is stored only while it is not full, and expires when it would be full again.
//
// Thread-safety: thread-safe; connections come from the shared RedisPool.
#pragma once

#include "common/rate_limiter.h"
#include "common/redis_client.h"

namespace courier {

class RedisRateLimiter final : public RateLimiter {
 public:
  // `pool` must outlive the limiter.
  RedisRateLimiter(RedisPool* pool, RateLimits limits);

  Status Take(RateBucket bucket, const std::string& owner, int64_t now_ms) override;
  Status GiveBack(RateBucket bucket, const std::string& owner, int64_t now_ms) override;

 private:
  // The script's KEYS and ARGV for `bucket` of `owner`.
  std::vector<std::string> Args(RateBucket bucket, int64_t now_ms) const;

  RedisPool* pool_;
  const RateLimits limits_;
  const RedisScript take_{"take_token"};
  const RedisScript give_back_{"return_token"};
};

}  // namespace courier
