// LeaseStore: where downlinks announce themselves and hold their shard leases — an interface,
// so the shard coordinator runs in unit tests against an in-memory one. RedisLeaseStore
// (downlink/redis_lease_store.h) is the real one.
//
// Thread-safety: implementations need not be thread-safe; the coordinator's thread owns one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace courier {

class LeaseStore {
 public:
  enum class Op { kTake, kRenew, kRelease };

  virtual ~LeaseStore() = default;
  // Announces `me` alive for `ttl_ms`; returns the names of the live downlinks, `me` included.
  virtual Result<std::vector<std::string>> Heartbeat(const std::string& me, int64_t ttl_ms) = 0;
  // Removes `me` from the live downlinks (a clean stop).
  virtual Status Leave(const std::string& me) = 0;
  // The name each lease holds, "" for a free one; element i for lease_keys[i].
  virtual Result<std::vector<std::string>> Owners(const std::vector<std::string>& lease_keys) = 0;
  // kTake: the lease, for `ttl_ms`, when free or already `me`'s; kRenew: for `ttl_ms` more, only
  // when `me`'s; kRelease: deleted, only when `me`'s. True when the lease is (was) `me`'s.
  virtual Result<bool> Apply(Op op, const std::string& lease_key, const std::string& me,
                             int64_t ttl_ms) = 0;
};

}  // namespace courier
