// DeliveryShardWorker: the work of one delivery shard as the shard coordinator runs it — a
// DeliveryWorker with the queue ({dq:<n>}:deliveries) and the Publisher it owns.
//
// Thread-safety: not thread-safe (ShardWorker).
#pragma once

#include <memory>
#include <string>

#include "common/config.h"
#include "downlink/delivery_worker.h"
#include "downlink/queue_backlog.h"
#include "downlink/redis_delivery_queue.h"
#include "downlink/shard_worker.h"

namespace courier {

class DeliveryShardWorker final : public ShardWorker {
 public:
  // `metrics`, `lease` and `backlog` must outlive the worker; a null `backlog`: the stream's
  // backlog is not sampled.
  DeliveryShardWorker(RedisConfig redis, int shard, std::string consumer,
                      std::unique_ptr<Publisher> publisher, MetricsRegistry* metrics,
                      DeliveryWorkerOptions options, const ShardLease* lease,
                      QueueBacklog* backlog = nullptr);

  // A step of the DeliveryWorker, then a backlog sample when one is due.
  Result<int> RunOnce() override;

  // The MQTT client id of shard `shard`'s publisher in downlink `consumer`.
  static std::string ClientId(const std::string& consumer, int shard);

 private:
  RedisDeliveryQueue queue_;
  std::unique_ptr<Publisher> publisher_;
  DeliveryWorker worker_;
  BacklogSampler backlog_;
};

}  // namespace courier
