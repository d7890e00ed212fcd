// The Redis commands that carry formats the broker plugin shares with the rest of Courier, as
// argument vectors: the room member set the uplink keeps, and the fan-out tasks the downlink
// reads (docs/design.md, "Rooms" and "Signals and presence", and the keys table after them).
//
// Pure functions; thread-safe. REQUIRES: ids are valid (common/ids.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace courier::broker {

using RedisCommand = std::vector<std::string>;

// The approximate cap of each fan-out stream (XADD MAXLEN ~), as for the delivery streams.
inline constexpr int64_t kFanoutStreamMaxLen = 1'000'000;

// A user's presence changed: the first of the user's devices came online, or the last one went
// offline.
struct PresenceChange {
  std::string user_id;
  bool online = false;
  int64_t ts_ms = 0;  // when, in ms since the Unix epoch

  bool operator==(const PresenceChange&) const = default;
};

// SISMEMBER {c:r:<room_id>}:members <user_id>: integer 1 when the user is a member of the room.
RedisCommand RoomMemberCommand(std::string_view room_id, std::string_view user_id);

// XADD {fq:<n>}:fanout MAXLEN ~ 1000000 * k presence u <user_id> on <1|0> ts <ms>, where
// n = keys::DeliveryShard(user_id, shards): the task from which the downlink sends a `presence`
// signal to each of the user's friends.
RedisCommand PresenceTaskCommand(const PresenceChange& change, int shards);

}  // namespace courier::broker
