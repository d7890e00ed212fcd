#include "downlink/delivery_shard.h"

namespace courier {

DeliveryShardWorker::DeliveryShardWorker(RedisConfig redis, int shard, std::string consumer,
                                         std::unique_ptr<Publisher> publisher,
                                         MetricsRegistry* metrics, DeliveryWorkerOptions options,
                                         const ShardLease* lease, QueueBacklog* backlog)
    : queue_(std::move(redis), shard, std::move(consumer)),
      publisher_(std::move(publisher)),
      worker_(&queue_, publisher_.get(), metrics, std::move(options), lease),
      backlog_(queue_.group(), backlog, shard, kBacklogSampleMs) {}

Result<int> DeliveryShardWorker::RunOnce() {
  Result<int> done = worker_.RunOnce();
  backlog_.MaybeSample();
  return done;
}

std::string DeliveryShardWorker::ClientId(const std::string& consumer, int shard) {
  return "courier-downlink:" + consumer + ":d" + std::to_string(shard);
}

}  // namespace courier
