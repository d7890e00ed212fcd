// LeaseStore over Redis: the live downlinks in {downlinks}:live (live_downlinks.lua) and each
// shard's lease in its own slot, {dq:<n>}:owner or {fq:<n>}:owner (shard_lease.lua). Every
// command or script touches one slot.
//
// Thread-safety: not thread-safe; the shard coordinator's thread owns it.
#pragma once

#include <memory>

#include "common/config.h"
#include "common/redis_client.h"
#include "downlink/lease_store.h"

namespace courier {

class RedisLeaseStore final : public LeaseStore {
 public:
  explicit RedisLeaseStore(RedisConfig redis);

  Result<std::vector<std::string>> Heartbeat(const std::string& me, int64_t ttl_ms) override;
  Status Leave(const std::string& me) override;
  Result<std::vector<std::string>> Owners(const std::vector<std::string>& lease_keys) override;
  Result<bool> Apply(Op op, const std::string& lease_key, const std::string& me,
                     int64_t ttl_ms) override;

 private:
  Result<RedisConnection*> Connection();
  Result<RedisValue> Eval(const RedisScript& script, const std::vector<std::string>& keys,
                          const std::vector<std::string>& args);

  RedisConfig redis_;
  std::unique_ptr<RedisConnection> conn_;
  const RedisScript live_{"live_downlinks"};
  const RedisScript lease_{"shard_lease"};
};

}  // namespace courier
