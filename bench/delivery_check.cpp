#include "bench/delivery_check.h"

#include <algorithm>
#include <cmath>

namespace courier::bench {

namespace {

constexpr uint8_t kAccepted = 1;
constexpr uint8_t kArrived = 2;
// A stream longer than this is not something the bench sends; refuse rather than allocate.
constexpr int64_t kMaxStreamLength = int64_t{1} << 28;

}  // namespace

void StreamCheck::Arrived(int64_t n) {
  if (n < 0 || n >= kMaxStreamLength) {
    ++unexpected_;
    return;
  }
  if (static_cast<size_t>(n) >= state_.size()) state_.resize(static_cast<size_t>(n) + 1, 0);
  uint8_t& s = state_[static_cast<size_t>(n)];
  if (s & kArrived) {
    ++duplicated_;
    return;
  }
  s |= kArrived;
  ++unique_;
  if (n < highest_arrived_) ++out_of_order_;
  highest_arrived_ = std::max(highest_arrived_, n);
}

void StreamCheck::Accepted(int64_t n) {
  if (n < 0 || n >= kMaxStreamLength) return;
  if (static_cast<size_t>(n) >= state_.size()) state_.resize(static_cast<size_t>(n) + 1, 0);
  uint8_t& s = state_[static_cast<size_t>(n)];
  if (!(s & kAccepted)) ++accepted_;
  s |= kAccepted;
}

int64_t StreamCheck::lost() const {
  int64_t lost = 0;
  for (uint8_t s : state_) lost += (s & kAccepted) && !(s & kArrived);
  return lost;
}

void SeqCheck::Push(int64_t seq) {
  if (last_ >= 0) {
    if (seq <= last_) {
      ++backwards_;
      return;
    }
    if (seq > last_ + 1) ++gaps_;
  }
  last_ = seq;
}

void Latencies::Append(const Latencies& other) {
  samples_.insert(samples_.end(), other.samples_.begin(), other.samples_.end());
  sorted_ = false;
}

double Latencies::PercentileMs(double p) const {
  if (samples_.empty()) return 0;
  if (!sorted_) {
    std::sort(samples_.begin(), samples_.end());
    sorted_ = true;
  }
  p = std::clamp(p, 0.0, 100.0);
  auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(samples_.size())));
  size_t index = rank == 0 ? 0 : rank - 1;
  return static_cast<double>(samples_[std::min(index, samples_.size() - 1)]) / 1e6;
}

}  // namespace courier::bench
