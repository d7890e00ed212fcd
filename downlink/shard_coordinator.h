// ShardCoordinator: makes this downlink own its fair share of the delivery and fan-out shards,
// one lease per shard in Redis, and runs each owned shard's work on a thread of its own.
//
// Every round (every renew_every_ms, default 1.5 s) it
//   1. renews its heartbeat in the live set and learns how many downlinks are alive;
//   2. renews the lease of every shard it runs; a lease it cannot renew because it names
//      someone else, or that ran out locally while Redis could not be reached, is lost: the
//      shard's worker is stopped (it acts only while ShardLease says the lease is held, so it
//      stops publishing at once) and its entries are the new owner's;
//   3. balances (shard_balance.h): above its fair share it stops the extra shards' workers
//      and, once each has finished its step, releases their leases; below it, it takes free
//      leases and starts their workers, which first take over what the previous owner left
//      pending.
// A downlink that dies keeps its leases until they expire (lease_ms, default 5 s); the others
// then take its shards in their next round. A downlink that stops cleanly releases them at once.
//
// Thread-safety: Run() and Stop() are called from one thread; OwnedShards() from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics.h"
#include "downlink/lease_store.h"
#include "downlink/shard_lease.h"
#include "downlink/shard_worker.h"

namespace courier {

// One sharded queue the coordinator balances: the delivery streams, or the fan-out streams.
struct ShardQueue {
  std::string kind;     // "delivery" or "fanout": the metrics' label
  std::string paused;   // log: "<paused> paused: <why>", e.g. "delivery"
  std::string resumed;  // log: "<resumed> again after: <why>", e.g. "delivering"
  int shards = 0;
  std::function<std::string(int shard)> lease_key;  // e.g. keys::DeliveryShardOwner
  // The worker of `shard`, which must act only while `lease` is held. Called on the
  // coordinator's thread when the shard is taken; the worker is destroyed after its thread ends.
  std::function<std::unique_ptr<ShardWorker>(int shard, const ShardLease* lease)> make_worker;
};

struct ShardCoordinatorOptions {
  std::string name;                 // this downlink's consumer name: the value of its leases
  int64_t lease_ms = 5000;          // a lease or heartbeat not renewed for this long expires
  int64_t renew_every_ms = 1500;    // one round: heartbeat, renewals, balance
  int64_t stop_timeout_ms = 15000;  // Stop() waits this long for workers, then joins anyway
};

class ShardCoordinator {
 public:
  // `store` and `metrics` must outlive the coordinator.
  ShardCoordinator(LeaseStore* store, MetricsRegistry* metrics, ShardCoordinatorOptions options,
                   std::vector<ShardQueue> queues);
  ~ShardCoordinator();  // Stop()
  ShardCoordinator(const ShardCoordinator&) = delete;
  ShardCoordinator& operator=(const ShardCoordinator&) = delete;

  // Runs rounds until `stopping` is true, then Stop().
  void Run(const std::atomic<bool>& stopping);
  // One round (above). The error that kept it from balancing (Redis unreachable); the
  // renewals that could be made are made in any case.
  Status RunRound();
  // Stops every worker (each finishes its step, with its lease renewed meanwhile), releases the
  // leases and leaves the live set. Idempotent.
  void Stop();

  // The number of shards of queue `kind` this downlink runs now.
  int OwnedShards(const std::string& kind) const;

 private:
  enum class State { kIdle, kRunning, kStopping };
  struct Slot {
    ShardLease lease;
    std::unique_ptr<ShardWorker> worker;
    std::thread thread;
    std::atomic<bool> stop{false};
    std::atomic<bool> done{false};
    State state = State::kIdle;      // coordinator thread only
    bool release_when_done = false;  // the lease is still ours: release it after the worker
  };
  struct Queue {
    ShardQueue spec;
    std::vector<std::unique_ptr<Slot>> slots;
    Gauge* owned;
    Counter* taken;
    Counter* lost;
  };

  void Start(Queue& q, int shard);
  void BeginStop(Queue& q, int shard, bool release);
  // Renews the leases of running (and stopping, still ours) shards; Unavailable on the first
  // Redis failure.
  Status RenewHeld();
  // Stops the workers whose lease expired in Redis without a renewal (counted as lost).
  void ExpireLapsed();
  // Joins the workers that ended, releasing their leases when still ours.
  void ReapFinished();
  void Balance(Queue& q, int live);
  void UpdateGauges();
  void RunWorker(Slot* slot, const ShardQueue& spec, int shard);
  std::chrono::steady_clock::time_point LocalDeadline(
      std::chrono::steady_clock::time_point sent) const;

  LeaseStore* store_;
  ShardCoordinatorOptions options_;
  std::vector<Queue> queues_;
  Gauge& live_;
  bool stopped_ = false;
};

}  // namespace courier
