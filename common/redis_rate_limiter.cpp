#include "common/redis_rate_limiter.h"

#include <cstdio>

#include "common/keys.h"
#include "common/redis_reply.h"

namespace courier {

using namespace redis_reply;

namespace {

std::string KeyOf(RateBucket bucket, const std::string& owner) {
  switch (bucket) {
    case RateBucket::kLoginFailuresPerUser:
      return keys::LoginFailures(owner);
    case RateBucket::kLoginFailuresPerAddress:
      return keys::AddressLoginFailures(owner);
    case RateBucket::kRegistrationsPerAddress:
      break;
  }
  return keys::AddressRegistrations(owner);
}

// A rate as Lua reads it back exactly enough (std::to_string keeps only 6 decimals).
std::string RateArg(double rate_per_s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", rate_per_s);
  return buf;
}

}  // namespace

RedisRateLimiter::RedisRateLimiter(RedisPool* pool, RateLimits limits)
    : pool_(pool), limits_(limits) {}

std::vector<std::string> RedisRateLimiter::Args(RateBucket bucket, int64_t now_ms) const {
  const RateLimit& l = limits_.Of(bucket);
  return {std::to_string(now_ms), RateArg(l.rate_per_s), std::to_string(l.burst)};
}

Status RedisRateLimiter::Take(RateBucket bucket, const std::string& owner, int64_t now_ms) {
  auto r = pool_->Eval(take_, {KeyOf(bucket, owner)}, Args(bucket, now_ms));
  if (!r.ok()) return r.status();
  auto verdict = Verdict(*r);
  if (verdict == "ok") return Status::Ok();
  if (verdict == "rate_limited" && r->elements.size() >= 2) {
    int retry_s = static_cast<int>((Int(r->elements[1]) + 999) / 1000);
    return Status::RateLimited("too many attempts; try again later", std::max(1, retry_s));
  }
  return Malformed("take_token");
}

Status RedisRateLimiter::GiveBack(RateBucket bucket, const std::string& owner, int64_t now_ms) {
  auto r = pool_->Eval(give_back_, {KeyOf(bucket, owner)}, Args(bucket, now_ms));
  if (!r.ok()) return r.status();
  if (Verdict(*r) != "ok") return Malformed("return_token");
  return Status::Ok();
}

}  // namespace courier
