// FanoutWorker: the downlink's second job beside delivery. It consumes the fan-out tasks
// ({fq:<n>}:fanout, consumer group "fanout") that the uplink and the broker plugin queue:
//   feed      copy a group's feed into its members' inboxes (write diffusion), exactly once
//             and in feed order, through fanin.lua (docs/design.md, "Groups");
//   signal    push a signal once to a group's members (never stored);
//   presence  push a presence signal to each friend of a user who came online or went offline.
// A task is acknowledged only when its work is in Redis; a crash repeats it, which fanin.lua's
// per-inbox cursor makes harmless. Each command touches one slot: fanin.lua writes one inbox
// and returns the pushes, which are then queued on the members' delivery streams (pipelined);
// a repeated task re-queues the pushes of the run it repeats (fanin.lua), so a crash between
// the two steps duplicates pushes rather than losing them.
//
// One worker serves one fan-out shard, while this downlink holds its lease (as DeliveryWorker).
//
// Thread-safety: not thread-safe; one thread calls RunOnce() in a loop.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "common/redis_client.h"
#include "common/redis_steps.h"
#include "downlink/fanout_plan.h"
#include "downlink/queue_backlog.h"
#include "downlink/redis_stream_group.h"
#include "downlink/shard_lease.h"
#include "downlink/shard_worker.h"

namespace courier {

struct FanoutWorkerOptions {
  int shards = 4;                 // delivery and fan-out shards; all processes agree
  int batch = 64;                 // tasks per read
  int block_ms = 1000;            // longest wait for new tasks
  int64_t claim_idle_ms = 30000;  // a pending task this old belongs to a dead consumer
  int claim_every_ms = 5000;
  int feed_page = 256;           // feed entries read at once
  int users_per_pipeline = 256;  // fanin.lua calls sent in one round trip
  int64_t inbox_max_entries = 10000;
  int64_t inbox_retention_ms = int64_t{30} * 24 * 3600 * 1000;
  int64_t delivery_stream_max = 1000000;
};

class FanoutWorker final : public ShardWorker {
 public:
  // The worker of fan-out shard `shard` ({fq:<shard>}:fanout). `metrics`, `lease` and `backlog`
  // must outlive the worker; a null `lease` means the shard is always this worker's (tests); a
  // null `backlog`, that the stream's backlog is not sampled.
  FanoutWorker(RedisConfig redis, int shard, std::string consumer, MetricsRegistry* metrics,
               FanoutWorkerOptions options, const ShardLease* lease = nullptr,
               QueueBacklog* backlog = nullptr);

  // One step: read a batch of tasks (on the first step, what earlier owners left; then own
  // pending, then stale ones of others, then new ones), do them in order, acknowledge the done
  // ones. The number of tasks done, or the error that stopped the step: Conflict when the lease
  // is not held (the caller waits for it or stops), another error otherwise (the caller backs
  // off and calls again).
  Result<int> RunOnce() override;

  static constexpr const char* kGroup = "fanout";

 private:
  Result<int> Step();  // RunOnce() without the backlog sample
  Result<std::vector<StreamEntry>> NextBatch();
  Status Process(const StreamEntry& task);
  Status FanFeed(const std::string& conv);
  Status FanSignal(const std::string& conv, const std::string& skip, const std::string& payload);
  Status FanPresence(const std::string& user, bool online, int64_t ts);
  // Applies one page of a group's plan: fanin.lua per recipient, pipelined.
  Status ApplyPlan(const std::string& conv, const GroupSnapshot& snapshot);
  // Sends commands in one round trip; their replies, or Internal/Unavailable on any error reply.
  Result<std::vector<RedisValue>> RunPipeline(
      const std::vector<std::vector<std::string>>& commands);
  // Sends XADDs of signal pushes (no seq), pipelined: (user, envelope).
  Status QueueInboxPushes(const std::vector<std::pair<std::string, std::string>>& pushes);
  Status QueuePushes(const std::vector<std::string>& users, const std::string& payload);
  std::string DeliveryStreamOf(const std::string& user) const;
  std::string NewEpoch();

  // The StorePolicy of the pushes' step (delivery shards, stream length).
  static StorePolicy PushPolicy(const FanoutWorkerOptions& options);

  RedisStreamGroup tasks_;
  FanoutWorkerOptions options_;
  // Inbox pushes are queued through RedisSteps (queue_pushes.lua: per-user seq order, once),
  // like the uplink's; on a connection of their own.
  RedisPool push_pool_;
  const StorePolicy push_policy_;
  RedisSteps steps_;
  const ShardLease* lease_;
  const RedisScript read_feed_{"read_feed"};
  const RedisScript fanin_{"fanin"};
  const RedisScript fanned_{"fanned"};
  bool groups_ready_ = false;  // the group exists and earlier owners' tasks are taken over
  bool pending_scan_ = true;
  std::chrono::steady_clock::time_point next_claim_{};
  Counter& tasks_done_;
  Counter& entries_copied_;
  Counter& signals_pushed_;
  Counter& pushes_requeued_;
  BacklogSampler backlog_;  // after tasks_, which it samples
};

}  // namespace courier
