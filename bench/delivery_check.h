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
// (each waiting for the previous one's 2xx), each stored in the recipient's inbox under a
// `seq`. SPEC §1 promises that order: a later message has a higher seq. Arrival order is not
// checked here (a device may get a push before it syncs what came earlier; the SDK orders by
// seq), only that the seqs follow the sending order.
class StreamCheck {
 public:
  // Message `n` arrived, stored under `seq`. A second arrival of `n` counts as a duplicate (the
  // caller drops a repeated seq before: a push delivered again is not a second message).
  // Negative `n` counts as unexpected.
  void Arrived(int64_t n, int64_t seq);
  // The sender's 2xx for message `n`: it must arrive.
  void Accepted(int64_t n);

  int64_t accepted() const { return accepted_; }
  int64_t arrived() const { return unique_; }
  int64_t duplicated() const { return duplicated_; }
  int64_t unexpected() const { return unexpected_; }
  // Accepted messages that have not arrived.
  int64_t lost() const;
  // Messages whose seq is below the seq of an earlier-sent message of the stream.
  int64_t out_of_order() const;

 private:
  static constexpr int64_t kNotArrived = -1;
  std::vector<int64_t> seq_;         // per n: its seq, or kNotArrived
  std::vector<uint8_t> accepted_n_;  // per n: 1 when accepted
  int64_t accepted_ = 0;
  int64_t unique_ = 0;
  int64_t duplicated_ = 0;
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
