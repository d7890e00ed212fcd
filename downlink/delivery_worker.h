// DeliveryWorker: moves the deliveries of one queue shard to the broker. An entry is
// acknowledged in the stream only after the broker's PUBACK, so a crash, a broker outage or a
// lost connection never drops one: it stays pending and is published again (devices drop the
// duplicate by seq). The worker runs only while this downlink holds the shard's lease: it first
// takes over what earlier owners left pending and delivers that before anything new, and it
// reads and publishes only while the lease is held, so one user's pushes leave in stream order.
//
// Thread-safety: not thread-safe; one thread calls RunOnce() in a loop.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "common/metrics.h"
#include "downlink/delivery.h"
#include "downlink/shard_lease.h"

namespace courier {

struct DeliveryWorkerOptions {
  std::string topic_root = "courier";
  int batch = 256;                // entries per read
  int block_ms = 1000;            // longest wait for new entries
  int publish_timeout_ms = 5000;  // longest wait for PUBACKs of a batch
  int64_t claim_idle_ms = 30000;  // a pending entry this old belongs to a dead consumer
  int claim_every_ms = 5000;      // how often to look for such entries
};

class DeliveryWorker {
 public:
  // `queue`, `publisher`, `metrics` and `lease` must outlive the worker. A null `lease` means
  // the shard is always this worker's (tests).
  DeliveryWorker(DeliveryQueue* queue, Publisher* publisher, MetricsRegistry* metrics,
                 DeliveryWorkerOptions options, const ShardLease* lease = nullptr);

  // One step: read a batch (on the first step, what earlier owners left; then own pending
  // entries, then stale ones of others, then new ones), publish it, acknowledge what the broker
  // took. Returns the number of deliveries acknowledged (with several brokers, some may have
  // stayed pending for a broker that is down: they are retried later without holding up the
  // others), or the error that stopped the step: Conflict when the lease is not held (nothing
  // read or published; the caller waits for the lease or stops), another error otherwise (e.g.
  // no broker took anything; the caller backs off and calls again).
  Result<int> RunOnce();

  // The MQTT messages one delivery becomes (a push, or a kick notice and a kick command).
  static std::vector<OutgoingMessage> Render(const Delivery& d, const std::string& topic_root);

 private:
  Result<std::vector<Delivery>> NextBatch();
  void RestartPendingScan();
  // One debug line per delivery of a published batch, with the request id it carries.
  static void LogOutcomes(const std::vector<Delivery>& batch,
                          const std::vector<size_t>& first_message, const std::vector<bool>& acked);

  DeliveryQueue* queue_;
  Publisher* publisher_;
  DeliveryWorkerOptions options_;
  const ShardLease* lease_;
  bool groups_ready_ = false;  // the group exists and earlier owners' entries are taken over
  bool pending_scan_ = true;   // start by finishing what a previous run of ours left
  // After a batch that only some brokers took: when to go through the pending list again.
  static constexpr int kFirstPendingRetryMs = 1000;
  static constexpr int kMaxPendingRetryMs = 30000;
  std::optional<std::chrono::steady_clock::time_point> retry_pending_at_;
  int retry_pending_ms_ = kFirstPendingRetryMs;
  std::chrono::steady_clock::time_point next_claim_{};
  Counter& pushed_;
  Counter& failed_;
  Counter& kicks_;
  Counter& claimed_;
};

}  // namespace courier
