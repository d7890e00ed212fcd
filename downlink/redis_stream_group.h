// A consumer in a Redis Streams consumer group over one queue shard's stream: the part the
// delivery queue ({dq:n}:deliveries, group "downlink") and the fan-out queue ({fq:n}:fanout,
// group "fanout") share. Every command touches only the shard's slot (the stream and its lease
// {dq:n}:owner share the hash tag), so it works on a Redis Cluster.
//
// The shard is owned by one downlink at a time (downlink/shard_coordinator.h). A new owner first
// takes over what earlier owners left pending (ClaimAll), then reads its own pending entries,
// then new ones; acknowledgements go through the lease (Ack fails once the shard moved on).
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

// What a shard's stream holds that its consumer group has not finished with.
struct StreamBacklog {
  int64_t pending = 0;  // read by a consumer, not acknowledged yet (XPENDING)
  int64_t unread = 0;   // not read by the group yet (XINFO GROUPS lag)
  // The time part (ms since the Unix epoch, Redis's clock) of the id of the oldest entry that is
  // pending or unread; 0 when there is none.
  int64_t oldest_ms = 0;
};

class RedisStreamGroup {
 public:
  // `lease_key`: the shard's lease, which must name `consumer` for Ack to acknowledge.
  RedisStreamGroup(RedisConfig redis, std::string stream, std::string lease_key, std::string group,
                   std::string consumer);

  // Creates the group on the stream if missing (from the first entry).
  Status EnsureGroup();
  // Makes every entry pending in the group this consumer's (those a previous owner of the shard
  // read but did not acknowledge; XAUTOCLAIM with no minimum idle time), and returns how many
  // belonged to other consumers. REQUIRES: this consumer holds the shard's lease, so nobody
  // else is working on them.
  Result<int64_t> ClaimAll();
  // This consumer's delivered-but-unacknowledged entries, oldest first, resuming after the
  // previous call's last entry; empty when all were returned (the next call starts over).
  Result<std::vector<StreamEntry>> ReadPending(int count);
  // The next ReadPending() starts from this consumer's oldest pending entry again.
  void RewindPending();
  // New entries, waiting up to `block_ms` for some (0: not at all).
  Result<std::vector<StreamEntry>> ReadNew(int count, int block_ms);
  // Entries other consumers left unacknowledged for `min_idle_ms`, now this consumer's.
  Result<std::vector<StreamEntry>> ClaimStale(int64_t min_idle_ms, int count);
  // Acknowledges entries by id, only while the lease names this consumer (ack_owned.lua).
  // Conflict when it does not: nothing was acknowledged, and the shard is someone else's.
  Status Ack(const std::vector<std::string>& ids);

  // The group's backlog, in one or two round trips (XPENDING and XINFO GROUPS; XRANGE for the
  // oldest unread entry when there is one). Bounded: when Redis cannot tell the lag (entries
  // deleted past the group's position), up to kMaxUnreadCounted unread entries are counted.
  Result<StreamBacklog> Backlog();
  static constexpr int kMaxUnreadCounted = 1000;

  // The group's connection, for the worker's other Redis work (connects if needed).
  Result<RedisConnection*> Connection();
  const std::string& stream() const { return stream_; }
  const std::string& group() const { return group_; }

 private:
  Result<RedisValue> Run(const std::vector<std::string>& command);
  Result<std::vector<StreamEntry>> ReadGroup(int count, int block_ms, const std::string& id);

  RedisConfig redis_;
  std::string stream_;
  std::string lease_key_;
  std::string group_;
  std::string consumer_;
  std::unique_ptr<RedisConnection> conn_;
  std::string pending_cursor_ = "0";  // for ReadPending
  const RedisScript ack_owned_{"ack_owned"};
};

}  // namespace courier
