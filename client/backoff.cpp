#include "client/backoff.h"

#include <algorithm>
#include <cmath>

namespace courier::client {

Backoff::Backoff(BackoffPolicy policy, uint64_t seed) : policy_(policy), rng_(seed) {}

std::chrono::milliseconds Backoff::Next() {
  double nominal =
      static_cast<double>(policy_.initial.count()) * std::pow(policy_.factor, attempt_);
  nominal = std::min(nominal, static_cast<double>(policy_.max.count()));
  if (attempt_ < 64) ++attempt_;
  std::uniform_real_distribution<double> spread(1.0 - policy_.jitter, 1.0 + policy_.jitter);
  double ms = nominal * spread(rng_);
  return std::chrono::milliseconds(static_cast<int64_t>(std::max(1.0, ms)));
}

}  // namespace courier::client
