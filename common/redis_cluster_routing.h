// Redis Cluster routing decisions, as data: the seed list of the configuration, the key(s) of
// each command Courier sends, the node each command of a pipeline goes to, and what an error
// reply from a cluster node means.
//
// The I/O that follows these decisions lives in common/redis_cluster_connection.h (the servers)
// and downlink/broker_plugin/bounded_redis_connection.h (the broker plugin); both share this
// file, so a command is routed the same way everywhere. Built on common/redis_cluster_slots.h.
//
// Pure: no I/O. Free functions are thread-safe; a ClusterRoutingTable is a value with no
// internal locking (one owner, or const access only).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/redis_cluster_slots.h"
#include "common/status.h"

namespace courier {

// A Redis node as the client reaches it.
struct RedisNodeAddress {
  std::string host;  // a name, an IPv4 address or an IPv6 address without brackets
  int port = 0;

  // "host:port", or "[v6]:port" when the host holds a ':'.
  std::string ToString() const;
  auto operator<=>(const RedisNodeAddress&) const = default;
};

// Parses a seed list "host:port[,host:port...]" (spaces around entries ignored; IPv6 as
// "[::1]:7000"). On success the seeds in the order given, at least one. InvalidField saying what
// is wrong with which entry for an empty list or entry, a missing or empty host, a port outside
// 1..65535, or a seed listed twice.
Result<std::vector<RedisNodeAddress>> ParseRedisSeedList(std::string_view text);

// The keys of a command (args[0] is its name, in any case), as views into `args`, in the order
// they appear; empty for a keyless command (PING, INFO, CLUSTER ..., SCRIPT ...). Knows the
// commands Courier sends and their usual relatives:
//   - the key is args[1]: GET, SET, HSET, HGET, HMGET, EXPIRE, XADD, XRANGE, XACK, XAUTOCLAIM,
//     XCLAIM, XPENDING, SMEMBERS, SISMEMBER, ZADD, ...;
//   - every argument is a key: DEL, UNLINK, EXISTS, MGET, TOUCH, SUNION, ...; MSET: every other;
//   - the key is args[2]: XGROUP <sub> <key>, XINFO <sub> <key>, OBJECT <sub> <key>, MEMORY USAGE;
//   - EVAL, EVALSHA (and _RO, FCALL): args[3 .. 3+numkeys);
//   - XREAD, XREADGROUP: the first half of the arguments after STREAMS.
// Internal naming the command for an unknown command (routing it by guess could send a write to
// the wrong node), for a command that can't work through the router (MULTI/EXEC/WATCH span a
// connection; KEYS, SCAN, DBSIZE, RANDOMKEY would answer for one node only; SELECT), and for a
// malformed one (no key where one is needed, a bad numkeys, XREAD without STREAMS or with an odd
// number of arguments after it). REQUIRES: args outlives the result.
Result<std::vector<std::string_view>> CommandKeys(const std::vector<std::string>& args);

// Where one command goes.
struct CommandRoute {
  enum class Kind {
    kAnyNode,      // keyless: PING, INFO, CLUSTER ..., ECHO, TIME
    kSlot,         // the master of `slot`
    kEveryMaster,  // SCRIPT ... (LOAD must reach the node of every key), FLUSHALL, FLUSHDB
  };
  Kind kind = Kind::kAnyNode;
  uint16_t slot = 0;  // kSlot only
};

// The route of a command: CommandKeys, then the one slot of all its keys. Internal as
// CommandKeys, and Internal naming the command and two of its keys when they hash to different
// slots (Redis would answer CROSSSLOT).
Result<CommandRoute> RouteCommand(const std::vector<std::string>& args);

// What an error reply from a cluster node asks the client to do.
enum class ClusterErrorKind {
  kNotCluster,   // an ordinary error (WRONGTYPE, NOSCRIPT, BUSYGROUP, ...): the caller's business
  kRedirect,     // MOVED or ASK (ParseRedirect tells which, and where)
  kUnavailable,  // CLUSTERDOWN, TRYAGAIN, MASTERDOWN, LOADING, READONLY: a topology change or a
                 // node starting; Unavailable to the caller, and the slot map is refreshed
  kCrossSlot,    // CROSSSLOT: a multi-key command across slots, a bug of ours (Internal)
};
// `text` is the reply's text without hiredis' leading '-'. A MOVED/ASK that ParseRedirect can't
// read is kNotCluster (passed to the caller as the error it is).
ClusterErrorKind ClassifyClusterError(std::string_view text);

// The commands of a pipeline that go to one node, as indexes into the pipeline, in order.
struct NodeBatch {
  RedisNodeAddress node;
  std::vector<size_t> commands;
};

// The client's view of the cluster: the master of every slot, from CLUSTER SLOTS, corrected slot
// by slot by MOVED replies until the next full refresh replaces the whole table.
class ClusterRoutingTable {
 public:
  explicit ClusterRoutingTable(SlotMap map) : map_(std::move(map)) {}

  // The master of `slot`; nullopt when none serves it (a cluster that is down or being built).
  std::optional<RedisNodeAddress> NodeFor(uint16_t slot) const;

  // Records a MOVED: `slot` is served by `node` from now on.
  void Move(uint16_t slot, RedisNodeAddress node);

  // Every master, each once, in slot order.
  std::vector<RedisNodeAddress> Masters() const;

  // Groups a pipeline by node: one batch per node in the order of each node's first command;
  // within a batch, the pipeline's order. A keyless command joins the batch of `any_node`
  // (default: the first batch, else the first master), a kEveryMaster command is in the batch of
  // every master. On failure nothing may be sent: Internal as RouteCommand names the first
  // command that can't be routed; Unavailable naming the slot when no master serves it.
  Result<std::vector<NodeBatch>> Plan(const std::vector<std::vector<std::string>>& commands,
                                      const std::optional<RedisNodeAddress>& any_node = {}) const;

 private:
  SlotMap map_;
  std::map<uint16_t, RedisNodeAddress> moved_;  // MOVED since the map was read
};

}  // namespace courier
