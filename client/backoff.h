// Reconnect and retry delays: exponential with full-range jitter, so that many devices dropped
// at once do not come back at once (PRIOR-ART: goim's base 3 s, factor 1.8, jitter 0.3).
//
// Thread-safety: not thread-safe; one per retry loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace courier::client {

struct BackoffPolicy {
  std::chrono::milliseconds initial{500};
  std::chrono::milliseconds max{30000};
  double factor = 1.8;
  double jitter = 0.3;  // each delay is spread uniformly over ±jitter of its nominal value
};

class Backoff {
 public:
  explicit Backoff(BackoffPolicy policy, uint64_t seed = std::random_device{}());

  // The delay before the next attempt; grows with each call until Reset().
  std::chrono::milliseconds Next();
  // After a success: the next delay starts from `initial` again.
  void Reset() { attempt_ = 0; }
  int attempt() const { return attempt_; }

 private:
  BackoffPolicy policy_;
  std::mt19937_64 rng_;
  int attempt_ = 0;
};

}  // namespace courier::client
