// An in-memory RateLimiter for unit tests of the core: the token buckets of
// common/rate_limiter.h (the arithmetic of common/lua/lib/bucket.lua), plus counters of what was
// asked, so a test can see whether a request reached the limiter.
//
// Thread-safety: thread-safe (one mutex).
#pragma once

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "common/rate_limiter.h"

namespace courier::testing {

class MemoryRateLimiter final : public RateLimiter {
 public:
  explicit MemoryRateLimiter(RateLimits limits) : limits_(limits) {}

  Status Take(RateBucket bucket, const std::string& owner, int64_t now_ms) override {
    std::lock_guard lock(mu_);
    ++takes_;
    if (down_) return Status::Unavailable("limiter down");
    const RateLimit& l = limits_.Of(bucket);
    double tokens = LevelLocked(bucket, owner, now_ms);
    if (tokens < 1) {
      int wait_ms = static_cast<int>(std::ceil((1 - tokens) * 1000 / l.rate_per_s));
      return Status::RateLimited("too many attempts", std::max(1, (wait_ms + 999) / 1000));
    }
    buckets_[{bucket, owner}] = {tokens - 1, now_ms};
    return Status::Ok();
  }

  Status GiveBack(RateBucket bucket, const std::string& owner, int64_t now_ms) override {
    std::lock_guard lock(mu_);
    ++give_backs_;
    if (down_) return Status::Unavailable("limiter down");
    double tokens = LevelLocked(bucket, owner, now_ms);
    buckets_[{bucket, owner}] = {std::min<double>(limits_.Of(bucket).burst, tokens + 1), now_ms};
    return Status::Ok();
  }

  // Test controls and observations.
  void SetDown(bool down) {
    std::lock_guard lock(mu_);
    down_ = down;
  }
  // The tokens in `owner`'s `bucket` at `now_ms`.
  double Tokens(RateBucket bucket, const std::string& owner, int64_t now_ms) {
    std::lock_guard lock(mu_);
    return LevelLocked(bucket, owner, now_ms);
  }
  int takes() const {
    std::lock_guard lock(mu_);
    return takes_;
  }

 private:
  struct Bucket {
    double tokens = 0;
    int64_t at = 0;
  };

  double LevelLocked(RateBucket bucket, const std::string& owner, int64_t now_ms) const {
    const RateLimit& l = limits_.Of(bucket);
    auto it = buckets_.find({bucket, owner});
    if (it == buckets_.end()) return l.burst;
    const Bucket& b = it->second;
    return std::min<double>(
        l.burst,
        b.tokens + static_cast<double>(std::max<int64_t>(0, now_ms - b.at)) * l.rate_per_s / 1000);
  }

  const RateLimits limits_;
  mutable std::mutex mu_;
  bool down_ = false;
  std::map<std::pair<RateBucket, std::string>, Bucket> buckets_;
  int takes_ = 0;
  int give_backs_ = 0;
};

}  // namespace courier::testing
