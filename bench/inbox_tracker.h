// InboxTracker: what every benchmark device received, pushed or synced, checked against what
// the senders had accepted. A bench message is an inbox envelope of type "message" whose body is
// {"p": stream, "n": number, "t": send start in steady_clock ns}; a stream is one sender's
// messages to one recipient, numbered from 0 in sending order.
//
// Like the SDK, the tracker takes an inbox entry once per device by its `seq` (a push may be
// delivered again, at least once, and sync may return what was pushed): a repeated seq counts as
// `redelivered`, not duplicated. Duplicated means one sent message stored under two seqs; lost
// means accepted and never arrived; out of order means a message stored under a lower seq than
// one its sender sent before it, or a push arriving after a push of a higher seq.
//
// Thread-safety: thread-safe (one mutex); the MQTT loop feeds it while senders mark acceptance.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "bench/delivery_check.h"

namespace courier::bench {

class InboxTracker {
 public:
  struct Totals {
    int64_t accepted = 0;
    int64_t delivered = 0;  // distinct accepted-or-not bench messages that arrived
    int64_t lost = 0;
    int64_t duplicated = 0;
    int64_t out_of_order = 0;
    int64_t unexpected = 0;  // a bench message of no stream the run sent, or unparsable
    int64_t redelivered = 0;
    int64_t push_seq_gaps = 0;  // a push skipped seqs (the SDK would sync to fill them)
    int64_t notifications = 0;  // inbox entries that are not bench messages
  };
  // How one message (stream, n) spread: for a group, to how many devices and when the last.
  struct Spread {
    int devices = 0;
    int64_t sent_ns = 0;
    int64_t last_arrival_ns = 0;
  };

  // With `track_spreads`, spreads() says how each message spread over the devices (for a
  // group); off, nothing per message is kept beyond the stream checks. Devices from
  // `timed_devices` on are checked like the others but not timed: a sender's own devices, which
  // get the echo of what it sent, when the latency that counts is the recipient's.
  explicit InboxTracker(size_t devices, bool track_spreads = false,
                        size_t timed_devices = SIZE_MAX);

  // A push's payload (an inbox envelope as JSON text) that `device` received at `arrival_ns`.
  // Signals and other payloads without a seq are counted and otherwise ignored.
  void Pushed(size_t device, std::string_view payload, int64_t arrival_ns);
  // An item of a sync answer.
  void Synced(size_t device, const nlohmann::json& envelope, int64_t arrival_ns);
  // The sender's 2xx for message `n` of `stream` to `device`.
  void Accepted(size_t device, int64_t stream, int64_t n);

  Totals totals() const;
  int64_t delivered() const;        // cheap: for waiting until everything arrived
  int64_t timed_delivered() const;  // to the timed devices only
  int64_t notifications(size_t device) const;
  int64_t last_seq(size_t device) const;  // highest seq taken; 0 if none
  Latencies latencies() const;            // send start → first arrival, pushes only
  // The `count` slowest pushes: (send start ns, latency ns), slowest first — when in the run
  // the tail happened (a periodic stall shows as evenly spaced send times).
  std::vector<std::pair<int64_t, int64_t>> slowest(size_t count) const;
  std::map<std::pair<int64_t, int64_t>, Spread> spreads() const;
  int64_t first_arrival_ns() const;
  int64_t last_arrival_ns() const;

 private:
  struct Device {
    std::unordered_set<int64_t> seqs;
    std::unordered_map<int64_t, StreamCheck> streams;
    SeqCheck pushes;
    int64_t highest_seq = 0;
    int64_t notifications = 0;
    int64_t out_of_order_pushes = 0;
  };
  void TakeLocked(size_t device, const nlohmann::json& envelope, int64_t arrival_ns, bool pushed);

  mutable std::mutex mu_;
  const bool track_spreads_;
  const size_t timed_devices_;
  std::vector<Device> devices_;                            // GUARDED_BY(mu_)
  Latencies latencies_;                                    // GUARDED_BY(mu_)
  std::vector<std::pair<int64_t, int64_t>> samples_;       // GUARDED_BY(mu_): sent, latency
  std::map<std::pair<int64_t, int64_t>, Spread> spreads_;  // GUARDED_BY(mu_)
  int64_t delivered_ = 0;                                  // GUARDED_BY(mu_)
  int64_t timed_delivered_ = 0;                            // GUARDED_BY(mu_)
  int64_t redelivered_ = 0;                                // GUARDED_BY(mu_)
  int64_t unexpected_ = 0;                                 // GUARDED_BY(mu_)
  int64_t first_arrival_ns_ = 0;                           // GUARDED_BY(mu_)
  int64_t last_arrival_ns_ = 0;                            // GUARDED_BY(mu_)
};

}  // namespace courier::bench
