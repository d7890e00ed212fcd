// Redis Cluster routing, as data: which slot a key hashes to, which master owns a slot (from a
// CLUSTER SLOTS reply), and what a MOVED / ASK error reply asks the client to do.
//
// It prepares issue #6 (Redis Cluster): the Redis access layer will route each command and each
// Lua script by the slot of its first key (common/keys.h hash-tags every key so that one script
// touches one slot), keep a SlotMap refreshed from CLUSTER SLOTS, and follow MOVED (the slot has
// moved: update the map, retry there) and ASK (the slot is being migrated: send ASKING, then the
// command, to that node once, without updating the map).
//
// Pure: no I/O, no Redis connection. Free functions are thread-safe; a SlotMap is an immutable
// value once built, so concurrent const calls are safe (refresh by building a new one).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/redis_client.h"
#include "common/status.h"

namespace courier {

// Redis Cluster has 16384 hash slots, 0..16383.
inline constexpr int kClusterSlots = 16384;

// The hash tag of a key per the Redis Cluster spec: the bytes between the first '{' and the
// first '}' after it. Empty when the key has no '{', no '}' after it, or the tag is empty
// ("foo{}{bar}" has no tag: the whole key is hashed). Points into `key`.
std::string_view HashTag(std::string_view key);

// The slot of a key: CRC16 (XMODEM: poly 0x1021, init 0, no reflection) of its hash tag if it
// has one, else of the whole key, mod 16384. Matches CLUSTER KEYSLOT.
uint16_t KeySlot(std::string_view key);

// Slots first..last (inclusive) and the master that serves them.
struct SlotRange {
  uint16_t first = 0;
  uint16_t last = 0;
  std::string host;  // as the cluster announces it: an IPv4/IPv6 address or a hostname
  int port = 0;
};

// Which master owns each slot. A value: copyable, immutable once built.
class SlotMap {
 public:
  // Parses a CLUSTER SLOTS reply: an array of [start, end, [host, port, id?, ...], replicas...].
  // The first node of each entry is the master; replicas and extra node fields are ignored.
  // Internal on any malformed reply: not an array, an entry of the wrong shape or types, a slot
  // outside 0..16383, start > end, an empty or unknown ("?") host, a port outside 1..65535, or
  // two entries that overlap. Slots no entry covers are allowed (see CoversAll).
  static Result<SlotMap> FromClusterSlots(const RedisValue& reply);

  // The range that contains `slot`, or nullptr when no master serves it (or slot >= 16384).
  // The pointer lives as long as this SlotMap.
  const SlotRange* Owner(uint16_t slot) const;

  // True when every slot 0..16383 has an owner (the cluster's "cluster_state:ok" for routing).
  bool CoversAll() const;

  // Sorted by `first`, disjoint.
  const std::vector<SlotRange>& ranges() const { return ranges_; }

 private:
  std::vector<SlotRange> ranges_;
};

// A cluster redirect taken from an error reply.
struct Redirect {
  // kMoved: the slot now lives on host:port for good (refresh the map).
  // kAsk: during a migration, ask host:port for this one command (preceded by ASKING).
  enum class Kind { kMoved, kAsk };
  Kind kind = Kind::kMoved;
  uint16_t slot = 0;
  // Empty when the server left it out ("MOVED 3999 :6381", Redis 7 with an unknown endpoint
  // type): the same host as the connection that received the reply.
  std::string host;
  int port = 0;
};

// Parses the text of an error reply (without hiredis' leading '-'), e.g. "MOVED 3999
// 127.0.0.1:6381", "ASK 3999 127.0.0.1:6381" or "MOVED 3999 ::1:6381" (the port follows the last
// colon, so IPv6 hosts need no brackets). nullopt for any other error (it is not a redirect) and
// for a malformed one: a slot outside 0..16383, a missing or out-of-range port, extra fields.
std::optional<Redirect> ParseRedirect(std::string_view error_text);

}  // namespace courier
