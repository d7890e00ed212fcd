// DeliveryQueue over the Redis Streams {dq:<n>}:deliveries with the consumer group "downlink".
//
// Thread-safety: not thread-safe; owned by the delivery worker's thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/redis_client.h"
#include "downlink/delivery.h"

namespace courier {

class RedisDeliveryQueue final : public DeliveryQueue {
 public:
  RedisDeliveryQueue(RedisConfig redis, int shards, std::string consumer);

  Status EnsureGroups() override;
  Result<std::vector<Delivery>> ReadPending(int count) override;
  void RewindPending() override;
  Result<std::vector<Delivery>> ReadNew(int count, int block_ms) override;
  Result<std::vector<Delivery>> ClaimStale(int64_t min_idle_ms, int count) override;
  Status Ack(const std::vector<const Delivery*>& done) override;

  static constexpr const char* kGroup = "downlink";

 private:
  Status EnsureConnected();
  Result<RedisValue> Run(const std::vector<std::string>& command);
  Result<std::vector<Delivery>> ReadGroup(int count, int block_ms,
                                          const std::vector<std::string>& ids);

  RedisConfig redis_;
  std::vector<std::string> streams_;
  std::string consumer_;
  std::unique_ptr<RedisConnection> conn_;
  std::vector<std::string> pending_cursor_;  // per stream, for ReadPending
};

}  // namespace courier
