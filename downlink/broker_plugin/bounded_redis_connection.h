// The broker plugin's connection to Redis: blocking hiredis with bounded waits, because every
// call blocks Mosquitto's event loop, which serves every connection of the broker.
//
// Each call waits at most `timeout_ms` for the connect and for each reply. The connection is
// opened lazily and dropped on any I/O error. After a failed connect or a timeout, calls fail at
// once for kReconnectBackoffMs before the next attempt, so that a dead or hung Redis cannot stall
// the broker once per CONNECT of a reconnect storm. A kept connection that turns out closed
// (Redis restarted) is replaced and the call retried once, immediately. The retry is meant for
// commands that never reached Redis; should Redis have run them and then closed the connection
// before answering, they run twice, so callers send only commands for which that is harmless.
//
// Shared by the plugin's Redis stores (RedisPresenceStore, RedisRoomMembership), so that they
// share one backoff too.
//
// Redis Cluster (Options::cluster non-empty): the same routing as the servers' RedisConnection
// (common/redis_cluster_routing.h). The slot map comes from CLUSTER SLOTS of a connected node,
// a known master or a seed (at most kMaxRefreshAttempts nodes per refresh); each master gets a
// connection of its own, with the bounded waits, backoff and retry-once above applied per node.
// A pipeline goes out one batch per node; MOVED (the slot is corrected and the map re-read
// before the next call) and ASK (ASKING first) are followed, at most kMaxRedirects times per
// command. CLUSTERDOWN, TRYAGAIN, MASTERDOWN, LOADING and READONLY stay error replies (the
// callers' FirstErrorReply makes them Unavailable) and have the map re-read; CROSSSLOT, or keys
// of one command in different slots, is Internal. An I/O error on a node drops that node's
// connection and has the map re-read, which is how a promoted replica is found. A call then waits
// at most timeout_ms per node it touches, per redirect, and per node asked for the map.
//
// Thread-safety: not thread-safe; one owner (the plugin, on Mosquitto's main thread).
#pragma once

#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <map>
#include <optional>

#include "common/redis_cluster_routing.h"
#include "common/status.h"
#include "downlink/broker_plugin/redis_commands.h"

namespace courier::broker {

struct RedisContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
struct RedisReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using RedisContextPtr = std::unique_ptr<redisContext, RedisContextDeleter>;
using RedisReplyPtr = std::unique_ptr<redisReply, RedisReplyDeleter>;

// A Lua script and the SHA-1 Redis caches it under (EVALSHA).
struct LuaScript {
  explicit LuaScript(std::string_view source);
  std::string_view source;  // REQUIRES: outlives the LuaScript (a string literal)
  std::string sha1;
};

bool IsErrorReply(const redisReply& reply);
// The reply's string (status, error or bulk string); empty for other types.
std::string_view ReplyText(const redisReply& reply);
// Unavailable quoting the first error reply; OK when there is none.
Status FirstErrorReply(const std::vector<RedisReplyPtr>& replies);

class BoundedRedisConnection {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    int port = 6379;
    int timeout_ms = 200;
    // Redis Cluster seed nodes; default empty: one Redis at host:port (then ignored).
    std::vector<RedisNodeAddress> cluster;
  };

  static constexpr int64_t kReconnectBackoffMs = 1000;
  static constexpr int kMaxRedirects = 5;
  static constexpr int kMaxRefreshAttempts = 3;

  explicit BoundedRedisConnection(Options options);
  BoundedRedisConnection(const BoundedRedisConnection&) = delete;
  BoundedRedisConnection& operator=(const BoundedRedisConnection&) = delete;

  // Opens the connection now rather than on first use (cluster: reads the slot map). OK or
  // Unavailable.
  Status Connect();

  // Sends the commands in one batch (cluster: one per node) and reads every reply, error replies
  // included, in the commands' order. Unavailable when Redis can't be reached or the connection
  // breaks (it is dropped); cluster mode: Internal for a command whose keys span slots.
  Result<std::vector<RedisReplyPtr>> Pipeline(const std::vector<RedisCommand>& commands);

  // Runs `script` once per call, pipelined; each call is its KEYS (the first `num_keys`
  // strings) then its ARGV. EVALSHA first; the calls Redis answers NOSCRIPT (first use, or after
  // a restart or SCRIPT FLUSH) run again with EVAL, which caches the script — only those, so no
  // call runs twice. Replies in call order, error replies included; Unavailable as Pipeline.
  Result<std::vector<RedisReplyPtr>> EvalEach(const LuaScript& script, int num_keys,
                                              const std::vector<RedisCommand>& calls);

 private:
  // One Redis server: the single Redis, or one node of the cluster.
  struct Link {
    RedisNodeAddress address;
    RedisContextPtr context;
    bool last_failure_was_closed_connection = false;
    std::chrono::steady_clock::time_point next_connect_attempt{};
  };

  Status EnsureConnected(Link& link);
  // Sends a batch on one link, retried once on a kept connection the peer had closed.
  Result<std::vector<RedisReplyPtr>> SendBatch(Link& link,
                                               const std::vector<RedisCommand>& commands);
  Result<std::vector<RedisReplyPtr>> PipelineOnce(Link& link,
                                                  const std::vector<RedisCommand>& commands);
  // Drops the connection after an I/O error; remembers whether the peer had closed it.
  Status Disconnect(Link& link, std::string_view what);

  // Cluster mode.
  Link& NodeLink(const RedisNodeAddress& node);
  Status RefreshSlotMap();
  Result<std::vector<RedisReplyPtr>> ClusterPipeline(const std::vector<RedisCommand>& commands);
  Result<RedisReplyPtr> FollowRedirects(const RedisCommand& command, Redirect redirect,
                                        const RedisNodeAddress& from);

  Options options_;
  Link single_;                               // single Redis
  std::map<RedisNodeAddress, Link> nodes_;    // cluster: one link per node used
  std::optional<ClusterRoutingTable> table_;  // cluster: the slot map
  bool refresh_due_ = true;                   // cluster: re-read the map before the next call
};

}  // namespace courier::broker
