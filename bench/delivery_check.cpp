#include "bench/delivery_check.h"

#include <algorithm>
#include <cmath>

namespace courier::bench {

namespace {

// A stream longer than this is not something the bench sends; refuse rather than allocate.
constexpr int64_t kMaxStreamLength = int64_t{1} << 28;

}  // namespace

void StreamCheck::Arrived(int64_t n, int64_t seq) {
  if (n < 0 || n >= kMaxStreamLength) {
    ++unexpected_;
    return;
  }
  const auto i = static_cast<size_t>(n);
  if (i >= seq_.size()) seq_.resize(i + 1, kNotArrived);
  if (seq_[i] != kNotArrived) {
    ++duplicated_;
    return;
  }
  seq_[i] = seq;
  ++unique_;
}

void StreamCheck::Accepted(int64_t n) {
  if (n < 0 || n >= kMaxStreamLength) return;
  const auto i = static_cast<size_t>(n);
  if (i >= accepted_n_.size()) accepted_n_.resize(i + 1, 0);
  if (accepted_n_[i] == 0) ++accepted_;
  accepted_n_[i] = 1;
}

int64_t StreamCheck::lost() const {
  int64_t lost = 0;
  for (size_t i = 0; i < accepted_n_.size(); ++i) {
    lost += accepted_n_[i] && (i >= seq_.size() || seq_[i] == kNotArrived);
  }
  return lost;
}

int64_t StreamCheck::out_of_order() const {
  int64_t out = 0;
  int64_t highest = kNotArrived;
  for (int64_t seq : seq_) {
    if (seq == kNotArrived) continue;
    if (seq < highest) ++out;
    highest = std::max(highest, seq);
  }
  return out;
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
