// What courier-bench checks and measures about the messages it sends, as pure code: which
// messages of a stream arrived (lost, duplicated, out of order), whether a device's inbox
// pushes kept `seq` order, and the latency percentiles. No sockets, no clocks: the callers pass
// timestamps in, so every case is unit-tested on plain values (tests/unit/bench_check_test.cpp).
//
// Thread-safety: none; each instance belongs to one thread (the MQTT loop, or the scenario
// after the loop has stopped).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace courier::bench {

// One sender's messages to one recipient, numbered 0, 1, 2, ... in the order they were sent
// (each waiting for the previous one's 2xx, so SPEC §1 promises that order on arrival).
class StreamCheck {
 public:
  // Message `n` arrived. Counts a duplicate when it had arrived before, and out of order when a
  // later message of the stream arrived first. Negative `n` counts as unexpected.
  void Arrived(int64_t n);
  // The sender's 2xx for message `n`: it must arrive.
  void Accepted(int64_t n);

  int64_t accepted() const { return accepted_; }
  int64_t arrived() const { return unique_; }
  int64_t duplicated() const { return duplicated_; }
  int64_t out_of_order() const { return out_of_order_; }
  int64_t unexpected() const { return unexpected_; }
  // Accepted messages that have not arrived.
  int64_t lost() const;

 private:
  std::vector<uint8_t> state_;  // per n: bit 0 accepted, bit 1 arrived
  int64_t highest_arrived_ = -1;
  int64_t accepted_ = 0;
  int64_t unique_ = 0;
  int64_t duplicated_ = 0;
  int64_t out_of_order_ = 0;
  int64_t unexpected_ = 0;
};

// A device's inbox pushes: each `seq` must be the previous one + 1 (SPEC §4: "pushes to one
// user arrive in seq order"). The first push sets the start, as a device may connect after its
// inbox already had entries.
class SeqCheck {
 public:
  void Push(int64_t seq);
  int64_t gaps() const { return gaps_; }            // a seq skipped ahead
  int64_t backwards() const { return backwards_; }  // a seq at or below the last one
  int64_t last() const { return last_; }

 private:
  int64_t last_ = -1;
  int64_t gaps_ = 0;
  int64_t backwards_ = 0;
};

// Latency samples in nanoseconds; percentiles by the nearest-rank method.
class Latencies {
 public:
  void Add(int64_t ns) {
    samples_.push_back(ns);
    sorted_ = false;
  }
  void Append(const Latencies& other);
  size_t size() const { return samples_.size(); }
  // The p-th percentile (0 < p <= 100) in milliseconds; 0 when there are no samples.
  double PercentileMs(double p) const;
  double MaxMs() const { return PercentileMs(100); }

 private:
  mutable std::vector<int64_t> samples_;
  mutable bool sorted_ = false;
};

}  // namespace courier::bench
