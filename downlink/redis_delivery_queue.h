// DeliveryQueue over one Redis Stream {dq:<n>}:deliveries with the consumer group "downlink",
// acknowledging through the shard's lease {dq:<n>}:owner.
//
// Thread-safety: not thread-safe; owned by the delivery worker's thread.
#pragma once

#include <string>
#include <vector>

#include "common/config.h"
#include "downlink/delivery.h"
#include "downlink/redis_stream_group.h"

namespace courier {

class RedisDeliveryQueue final : public DeliveryQueue {
 public:
  RedisDeliveryQueue(RedisConfig redis, int shard, std::string consumer);

  Status EnsureGroups() override;
  Result<int64_t> TakeOver() override;
  Result<std::vector<Delivery>> ReadPending(int count) override;
  void RewindPending() override;
  Result<std::vector<Delivery>> ReadNew(int count, int block_ms) override;
  Result<std::vector<Delivery>> ClaimStale(int64_t min_idle_ms, int count) override;
  Status Ack(const std::vector<const Delivery*>& done) override;

  static constexpr const char* kGroup = "downlink";

  // A stream entry as a Delivery; false when it is not one (it is then dropped).
  static bool ToDelivery(const StreamEntry& e, Delivery* d);

  // The stream's consumer group, e.g. to sample its backlog on the owner's thread.
  RedisStreamGroup* group() { return &group_; }

 private:
  // Converts entries, acknowledging (dropping) those that are not deliveries.
  std::vector<Delivery> Convert(std::vector<StreamEntry> entries);

  RedisStreamGroup group_;
};

}  // namespace courier
