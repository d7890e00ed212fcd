// Thin, owning access to Redis over hiredis: a connection, a Lua script handle, and a pool.
//
// Every failure comes back as a Status: connection trouble and timeouts are Unavailable (the
// caller answers 503, the request is safe to retry); a Redis error reply is Internal (a bug).
//
// Failures are counted in RedisConfig::errors (courier_redis_errors_total), by where they
// happened: op "connect" (no connection could be made), "command" (a command or pipeline failed:
// connection lost, timeout, a node down, a cross-slot command refused), "script" (an error reply
// to a Lua script, after the NOSCRIPT retry: a bug, or Redis LOADING / BUSY / CLUSTERDOWN). An
// error reply to a plain command is its caller's to judge (BUSYGROUP is an answer, not a
// failure) and is not counted; nor is a RedisPool refusal while its breaker is open, which
// reaches no Redis.
//
// One Redis or a Redis Cluster, chosen by RedisConfig::cluster: in cluster mode a RedisConnection
// routes every command to the master of its keys' slot and follows the cluster's redirects
// (common/redis_cluster_connection.h); its interface and error policy stay the same, so the
// pool, the stores and the stream groups work unchanged. Every key of one command or one script
// must then share a slot (common/keys.h hash-tags them by owner); a command whose keys don't is
// refused with Internal before it is sent.
#pragma once

#include <hiredis/hiredis.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/status.h"

namespace courier {

// A Redis reply, copied out of hiredis.
struct RedisValue {
  enum class Type { kNil, kString, kInteger, kArray, kStatus, kError };
  Type type = Type::kNil;
  std::string str;  // kString, kStatus, kError
  long long integer = 0;
  std::vector<RedisValue> elements;  // kArray

  bool is_nil() const { return type == Type::kNil; }
  bool is_string() const { return type == Type::kString; }
  bool is_integer() const { return type == Type::kInteger; }
  bool is_array() const { return type == Type::kArray; }
};

// A copy of a hiredis reply (for code that reads hiredis itself, e.g. the broker plugin).
RedisValue ToRedisValue(const redisReply& reply);

// A Lua script: its source and SHA1, for EVALSHA with a fallback to EVAL.
class RedisScript {
 public:
  // `name` is the script's file name under common/lua/ without ".lua".
  explicit RedisScript(std::string_view name);
  const std::string& source() const { return source_; }
  const std::string& sha1() const { return sha1_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  std::string source_;
  std::string sha1_;
};

class RedisClusterConnection;
class ClusterNodeHealth;

// One connection: to one Redis, or, in cluster mode, to the masters of a Redis Cluster (one
// connection per master, opened as needed). Not thread-safe: one owner at a time (see RedisPool).
class RedisConnection {
 public:
  // Unavailable if Redis can't be reached within the connect timeout. In cluster mode: Unavailable
  // when no seed answers CLUSTER SLOTS, InvalidField for a malformed seed list.
  static Result<std::unique_ptr<RedisConnection>> Connect(const RedisConfig& config);
  // Cluster mode: with the failed-node record shared by a pool's connections
  // (common/redis_cluster_connection.h); ignored for a single Redis.
  static Result<std::unique_ptr<RedisConnection>> Connect(
      const RedisConfig& config, std::shared_ptr<ClusterNodeHealth> cluster_health);

  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  Result<RedisValue> Command(const std::vector<std::string>& args);
  // Sends all commands, then reads all replies: one round trip.
  Result<std::vector<RedisValue>> Pipeline(const std::vector<std::vector<std::string>>& commands);
  // EVALSHA, loading the script on NOSCRIPT (after a Redis restart the cache is empty).
  Result<RedisValue> Eval(const RedisScript& script, const std::vector<std::string>& keys,
                          const std::vector<std::string>& args);

  // True once an I/O error happened; the connection must then be dropped.
  // Cluster mode: true once no node of the cluster could be reached at all (every seed and
  // every known node failed), so that the pool drops it and fails fast as for a single Redis
  // that is down. One node failing doesn't break it: it answers Unavailable for that node's
  // slots and heals itself (drops the node's connection, re-reads the slot map).
  bool broken() const;
  // False when the connection is broken or the server closed it while it sat idle.
  // Cluster mode: !broken(); each node connection is checked this way before its next use and
  // reopened if the node closed it.
  bool LooksAlive() const;

  // The cluster half, or nullptr for a single Redis. For tests and diagnostics.
  RedisClusterConnection* cluster() { return cluster_.get(); }

 private:
  struct ContextDeleter {
    void operator()(redisContext* c) const { redisFree(c); }
  };
  RedisConnection(redisContext* c, ErrorCounter* errors);
  RedisConnection(std::unique_ptr<RedisClusterConnection> cluster, ErrorCounter* errors);
  Status ReadReply(RedisValue* out);
  Result<std::vector<RedisValue>> PipelineUncounted(
      const std::vector<std::vector<std::string>>& commands);

  std::unique_ptr<redisContext, ContextDeleter> ctx_;  // single Redis
  bool broken_ = false;
  std::unique_ptr<RedisClusterConnection> cluster_;  // cluster mode
  ErrorCounter* errors_;                             // RedisConfig::errors; may be null
};

// A fixed-size pool of lazily opened connections. Thread-safe.
//
// It fails fast while Redis is failing (a circuit breaker): once a connection fails (refused,
// timed out, broken mid-command), every Acquire in the next kFailFastMs is Unavailable at once,
// and after that one caller at a time tries Redis again while the others still fail at once,
// until one succeeds. Without it, a frozen Redis makes every request wait the command timeout,
// and requests beyond the HTTP workers queue behind them: N × timeout ÷ workers. In cluster mode
// the connections share what they learn of each node instead (ClusterNodeHealth), so that one
// failed master does not fail the others' keys; the breaker then trips when no node answers.
class RedisPool {
 public:
  static constexpr int64_t kFailFastMs = 1000;

  RedisPool(RedisConfig config, int size);

  // A connection on loan; returned to the pool (or dropped if broken) on destruction.
  class Lease {
   public:
    Lease(RedisPool* pool, std::unique_ptr<RedisConnection> c) : pool_(pool), c_(std::move(c)) {}
    Lease(Lease&&) = default;
    ~Lease();
    RedisConnection* operator->() { return c_.get(); }
    RedisConnection& operator*() { return *c_; }

   private:
    RedisPool* pool_;
    std::unique_ptr<RedisConnection> c_;
  };

  // Waits for a free slot, then connects if the slot has no live connection.
  // Unavailable when Redis can't be reached.
  Result<Lease> Acquire();

  // Convenience wrappers: acquire, run, release.
  Result<RedisValue> Command(const std::vector<std::string>& args);
  Result<std::vector<RedisValue>> Pipeline(const std::vector<std::vector<std::string>>& commands);
  Result<RedisValue> Eval(const RedisScript& script, const std::vector<std::string>& keys,
                          const std::vector<std::string>& args);

 private:
  // Returns the slot; a null or broken connection counts as a failure of Redis.
  void Release(std::unique_ptr<RedisConnection> c);

  const RedisConfig config_;
  const std::shared_ptr<ClusterNodeHealth> cluster_health_;  // cluster mode; else null
  std::mutex mu_;
  std::condition_variable cv_;
  int free_slots_;                                      // GUARDED_BY(mu_)
  std::vector<std::unique_ptr<RedisConnection>> idle_;  // GUARDED_BY(mu_)
  // The circuit breaker: failing since the last failure, until a lease comes back healthy.
  bool failing_ = false;            // GUARDED_BY(mu_)
  int64_t fail_fast_until_ms_ = 0;  // GUARDED_BY(mu_), steady clock
  bool probing_ = false;            // GUARDED_BY(mu_): one caller is trying Redis again
};

}  // namespace courier
