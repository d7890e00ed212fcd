// FanoutWorker: the downlink's second job beside delivery. It consumes the fan-out tasks
// ({fq:<n>}:fanout, consumer group "fanout") that the uplink and the broker plugin queue:
//   feed      copy a group's feed into its members' inboxes (write diffusion), exactly once
//             and in feed order, through fanin.lua (docs/design.md, "Groups");
//   signal    push a signal once to a group's members (never stored);
//   presence  push a presence signal to each friend of a user who came online or went offline.
// A task is acknowledged only when its work is in Redis; a crash repeats it, which fanin.lua's
// per-inbox cursor makes harmless.
//
// Thread-safety: not thread-safe; one thread calls RunOnce() in a loop.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "common/redis_client.h"
#include "downlink/fanout_plan.h"
#include "downlink/redis_stream_group.h"

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

class FanoutWorker {
 public:
  // `metrics` must outlive the worker.
  FanoutWorker(RedisConfig redis, std::string consumer, MetricsRegistry* metrics,
               FanoutWorkerOptions options);

  // One step: read a batch of tasks (own pending first, then stale ones of others, then new
  // ones), do them in order, acknowledge the done ones. The number of tasks done, or the
  // error that stopped the step (the caller backs off and calls again).
  Result<int> RunOnce();

  static constexpr const char* kGroup = "fanout";

 private:
  Result<std::vector<StreamEntry>> NextBatch();
  Status Process(const StreamEntry& task);
  Status FanFeed(const std::string& conv);
  Status FanSignal(const std::string& conv, const std::string& skip, const std::string& payload);
  Status FanPresence(const std::string& user, bool online, int64_t ts);
  // Applies one page of a group's plan: fanin.lua per recipient, pipelined.
  Status ApplyPlan(const std::string& conv, const GroupSnapshot& snapshot);
  // Sends commands in one round trip; Internal/Unavailable on any error reply.
  Status RunPipeline(const std::vector<std::vector<std::string>>& commands);
  Status QueuePushes(const std::vector<std::string>& users, const std::string& payload);
  std::string DeliveryStreamOf(const std::string& user) const;
  std::string NewEpoch();

  RedisStreamGroup tasks_;
  FanoutWorkerOptions options_;
  const RedisScript read_feed_{"read_feed"};
  const RedisScript fanin_{"fanin"};
  const RedisScript fanned_{"fanned"};
  bool groups_ready_ = false;
  bool pending_scan_ = true;
  std::chrono::steady_clock::time_point next_claim_{};
  Counter& tasks_done_;
  Counter& entries_copied_;
  Counter& signals_pushed_;
};

}  // namespace courier
