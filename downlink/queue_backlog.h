// QueueBacklog: the backlog of the queue shards this downlink owns, as gauges — how much of the
// delivery (or fan-out) streams is waiting, and for how long. Each owned shard's worker samples
// its stream now and then (RedisStreamGroup::Backlog, a round trip or two on its own connection,
// never on the uplink's send path) and reports here; a shard given up is forgotten. The gauges
// are this downlink's shards only, so summing them over the downlinks gives the deployment's,
// on one Redis as on a Redis Cluster (each shard's commands stay in its slot):
//   courier_queue_pending_entries{queue}  entries read but not acknowledged (sum over shards)
//   courier_queue_unread_entries{queue}   entries not read yet (sum over shards)
//   courier_queue_lag_seconds{queue}      age of the oldest pending or unread entry, whole
//                                         seconds (max over shards; 0 when nothing waits)
//
// Thread-safety: thread-safe (every shard's thread reports; one mutex).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "common/metrics.h"
#include "downlink/redis_stream_group.h"

namespace courier {

class QueueBacklog {
 public:
  // `queue`: the label, "delivery" or "fanout". `metrics` must outlive this.
  QueueBacklog(MetricsRegistry* metrics, const std::string& queue);
  QueueBacklog(const QueueBacklog&) = delete;
  QueueBacklog& operator=(const QueueBacklog&) = delete;

  // Shard `shard`'s latest sample, taken at `now_ms` (ms since the Unix epoch).
  void Report(int shard, const StreamBacklog& backlog, int64_t now_ms);
  // The shard is no longer this downlink's: it leaves the sums.
  void Forget(int shard);

 private:
  void PublishLocked();

  std::mutex mu_;
  struct Sample {
    StreamBacklog backlog;
    int64_t at_ms = 0;
  };
  std::map<int, Sample> shards_;  // GUARDED_BY(mu_)
  Gauge& pending_;
  Gauge& unread_;
  Gauge& lag_seconds_;
};

// How often a shard's worker samples its backlog.
constexpr int64_t kBacklogSampleMs = 1000;

// Samples one shard's backlog into a QueueBacklog at most every `every_ms`, from the shard's
// own thread (call MaybeSample() after each step of its work). Forgets the shard when
// destroyed. A failed sample keeps the previous figures (the failure is counted with the other
// Redis errors). Not thread-safe: the shard's thread owns it.
class BacklogSampler {
 public:
  // `group` and `backlog` must outlive the sampler; `backlog` may be null (no sampling).
  BacklogSampler(RedisStreamGroup* group, QueueBacklog* backlog, int shard, int64_t every_ms);
  ~BacklogSampler();
  BacklogSampler(const BacklogSampler&) = delete;
  BacklogSampler& operator=(const BacklogSampler&) = delete;

  void MaybeSample();

 private:
  RedisStreamGroup* group_;
  QueueBacklog* backlog_;
  int shard_;
  std::chrono::milliseconds every_;
  std::chrono::steady_clock::time_point next_{};
};

}  // namespace courier
