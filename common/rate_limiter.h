// RateLimiter: token buckets for attempts counted per user or per client address (failed logins,
// registrations), shared by every uplink, so that adding uplinks does not multiply the limits.
// The login and registration paths take a token before they do the expensive work (PBKDF2) and
// give it back when the attempt turns out not to count (a login that succeeds): see
// uplink/auth_service.h. Implementations: RedisRateLimiter (common/redis_rate_limiter.h), an
// in-memory fake for unit tests (tests/unit/memory_rate_limiter.h).
//
// The contract: a bucket holds at most `burst` tokens and gains `rate_per_s` tokens a second;
// an owner nobody counted yet has a full bucket; Take() is atomic, so attempts running side by
// side can never take more tokens than the bucket holds.
//
// Thread-safety: implementations are thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace courier {

// What a bucket counts, and so what its owner is.
enum class RateBucket {
  kLoginFailuresPerUser,     // owner: a (valid) user id, registered or not
  kLoginFailuresPerAddress,  // owner: a client address (uplink/client_address.h)
  kRegistrationsPerAddress,  // owner: a client address
};

struct RateLimit {
  double rate_per_s = 1;  // tokens gained per second; > 0
  int burst = 1;          // tokens when full; >= 1
};

// The limit of each bucket. Defaults: Limits in common/config.h.
struct RateLimits {
  RateLimit login_per_user;
  RateLimit login_per_address;
  RateLimit register_per_address;

  const RateLimit& Of(RateBucket bucket) const {
    switch (bucket) {
      case RateBucket::kLoginFailuresPerUser:
        return login_per_user;
      case RateBucket::kLoginFailuresPerAddress:
        return login_per_address;
      case RateBucket::kRegistrationsPerAddress:
        break;
    }
    return register_per_address;
  }
};

class RateLimiter {
 public:
  virtual ~RateLimiter() = default;

  // Takes one token from `owner`'s `bucket` at `now_ms`. OK: taken. RateLimited: the bucket is
  // empty and stays as it was; retry_after_s() is the wait for the next token, at least 1.
  // Unavailable: the backing store is down.
  virtual Status Take(RateBucket bucket, const std::string& owner, int64_t now_ms) = 0;

  // Gives back one token Take() took, for an attempt that did not count; never above the burst.
  // Unavailable: the backing store is down (the token then stays taken until the refill).
  virtual Status GiveBack(RateBucket bucket, const std::string& owner, int64_t now_ms) = 0;
};

}  // namespace courier
