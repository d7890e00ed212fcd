// A consumer in a Redis Streams consumer group over a fixed set of streams: the part the
// delivery queue ({dq:n}:deliveries, group "downlink") and the fan-out queue ({fq:n}:fanout,
// group "fanout") share. Own pending entries first (what a previous run of this consumer left
// unacknowledged), then entries other consumers left idle too long, then new ones.
//
// Thread-safety: not thread-safe; one worker thread owns it.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/config.h"
#include "common/redis_client.h"

namespace courier {

struct StreamEntry {
  std::string stream;
  std::string id;
  std::vector<std::pair<std::string, std::string>> fields;

  // The value of `name`, or empty.
  const std::string& Field(std::string_view name) const;
};

class RedisStreamGroup {
 public:
  RedisStreamGroup(RedisConfig redis, std::vector<std::string> streams, std::string group,
                   std::string consumer);

  // Creates the group on every stream if missing (from the first entry).
  Status EnsureGroups();
  // This consumer's delivered-but-unacknowledged entries, oldest first, resuming after the
  // previous call's last entry; empty when all were returned (the next call starts over).
  Result<std::vector<StreamEntry>> ReadPending(int count);
  // The next ReadPending() starts from this consumer's oldest pending entry again.
  void RewindPending();
  // New entries, waiting up to `block_ms` for some.
  Result<std::vector<StreamEntry>> ReadNew(int count, int block_ms);
  // Entries other consumers left unacknowledged for `min_idle_ms`, now this consumer's.
  Result<std::vector<StreamEntry>> ClaimStale(int64_t min_idle_ms, int count);
  // Acknowledges entries (stream, id), pipelined.
  Status Ack(const std::vector<std::pair<std::string, std::string>>& done);

  // The group's connection, for the worker's other Redis work (connects if needed).
  Result<RedisConnection*> Connection();
  const std::string& group() const { return group_; }

 private:
  Result<RedisValue> Run(const std::vector<std::string>& command);
  Result<std::vector<StreamEntry>> ReadGroup(int count, int block_ms,
                                             const std::vector<std::string>& ids);

  RedisConfig redis_;
  std::vector<std::string> streams_;
  std::string group_;
  std::string consumer_;
  std::unique_ptr<RedisConnection> conn_;
  std::vector<std::string> pending_cursor_;  // per stream, for ReadPending
};

}  // namespace courier
