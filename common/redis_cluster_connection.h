// A client connection to a Redis Cluster: what RedisConnection (common/redis_client.h) becomes
// when RedisConfig::cluster names seed nodes. Callers keep using RedisConnection; this is its
// cluster half.
//
// How it behaves:
//   - Connect asks the first seed that answers for CLUSTER SLOTS; a connection to each master
//     is opened when a command first needs it, with RedisConfig's connect and command timeouts.
//   - Each command goes to the master of its keys' slot (common/redis_cluster_routing.h); a
//     pipeline is split by node, one round trip per node, and its replies come back in the
//     pipeline's order. A command whose keys span slots is refused before anything is sent.
//   - MOVED: the slot's new master is recorded, the command retried there, and the whole map
//     re-read before the next call. ASK: ASKING and the command on the target, map unchanged.
//     At most kMaxRedirects per command.
//   - CLUSTERDOWN, TRYAGAIN, MASTERDOWN, LOADING, READONLY replies: Unavailable (the caller backs
//     off and retries), and the map is re-read before the next call. CROSSSLOT: Internal.
//   - An I/O error or a timeout on a node: Unavailable, never retried here (the command may have
//     run); that node's connection is dropped, commands for it fail at once for kNodeRetryMs,
//     and the map is re-read before the next call: that is how a failover (a replica promoted)
//     is picked up. A node connection the server closed while idle is noticed before use and
//     reopened (nothing was sent on it).
//   - The map is re-read at most every kMinRefreshIntervalMs, from a connected node, else a
//     known master, else a seed; one re-read tries further nodes only until it has spent the
//     command timeout.
//   - What a node's failure teaches is shared by the connections of one pool (ClusterNodeHealth,
//     given by RedisPool): once one of them has timed out on a node, the others fail at once for
//     that node's slots instead of each waiting out its own timeout; after kNodeRetryMs one
//     caller at a time tries the node again. Likewise one of them at a time re-reads the map
//     when it is due (the others keep routing by theirs), and a new connection of the pool
//     starts from the map last read rather than asking the seeds (the first of which may be the
//     node that hangs). A call whose re-read reached no node at all fails at once. So a frozen or
//     unreachable cluster costs a pool about one command timeout (two for the caller that
//     re-reads the map), as a single frozen Redis costs one (RedisPool's breaker), while one
//     failed master costs only its own slots.
//   - With RedisConfig::replica_acks > 0, each node's batch (and each redirected command) ends
//     with WAIT replica_acks replica_ack_timeout_ms: the call returns once the replicas have the
//     writes, or after the timeout with a warning logged (the writes stand; they may still be
//     lost if that master dies before its replicas catch up).
//
// Thread-safety: RedisClusterConnection is not thread-safe; one owner at a time, like
// RedisConnection. ClusterNodeHealth is thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/redis_client.h"
#include "common/redis_cluster_routing.h"
#include "common/status.h"

namespace courier {

// The nodes of a cluster that failed recently, shared by the connections of one pool.
class ClusterNodeHealth {
 public:
  // `pause_ms`: how long a failed node is skipped; `probe_ms`: how long one caller may take to
  // try it again before another may (a bound on connect plus command time).
  ClusterNodeHealth(int64_t pause_ms, int64_t probe_ms)
      : pause_ms_(pause_ms), probe_ms_(probe_ms) {}

  // Whether the caller may use `node` now: false during its pause after a failure, and while
  // another caller is trying it again; true otherwise (the caller may be that one: it reports
  // the outcome with Failed or Succeeded).
  bool MayUse(const RedisNodeAddress& node, int64_t now_ms);
  void Failed(const RedisNodeAddress& node, int64_t now_ms);
  void Succeeded(const RedisNodeAddress& node);

  // One re-read of the slot map at a time: true if the caller may do it now (then EndRefresh).
  bool BeginRefresh();
  void EndRefresh();
  // The slot map a connection of the pool read last, for new connections.
  void PublishMap(const ClusterRoutingTable& table);
  std::optional<ClusterRoutingTable> LatestMap();

 private:
  struct Failure {
    int64_t pause_until_ms = 0;
    int64_t probe_until_ms = 0;  // someone is trying it again until then
  };
  const int64_t pause_ms_;
  const int64_t probe_ms_;
  std::mutex mu_;
  std::map<RedisNodeAddress, Failure> failed_;  // GUARDED_BY(mu_)
  bool refreshing_ = false;                     // GUARDED_BY(mu_)
  std::optional<ClusterRoutingTable> map_;      // GUARDED_BY(mu_)
};

class RedisClusterConnection {
 public:
  static constexpr int kMaxRedirects = 5;
  static constexpr int64_t kNodeRetryMs = 500;
  static constexpr int64_t kMinRefreshIntervalMs = 100;

  // REQUIRES: !config.cluster.empty(). InvalidField for a malformed seed list; Unavailable when
  // no seed answers CLUSTER SLOTS with a usable map (the error quotes the last seed's answer).
  // `health` is shared with the other connections of a pool; null: this connection's own.
  static Result<std::unique_ptr<RedisClusterConnection>> Connect(
      const RedisConfig& config, std::shared_ptr<ClusterNodeHealth> health = nullptr);
  // The ClusterNodeHealth a pool shares among its connections to the cluster `config` names.
  static std::shared_ptr<ClusterNodeHealth> MakeHealth(const RedisConfig& config);

  RedisClusterConnection(const RedisClusterConnection&) = delete;
  RedisClusterConnection& operator=(const RedisClusterConnection&) = delete;

  // As RedisConnection::Pipeline: the replies in order, ordinary error replies (WRONGTYPE,
  // NOSCRIPT, BUSYGROUP...) included. Unavailable or Internal as described above; after an
  // Unavailable some commands may have run (as after a single Redis' I/O error).
  Result<std::vector<RedisValue>> Pipeline(const std::vector<std::vector<std::string>>& commands);

  // True when the last attempt to read the slot map reached no node at all: every seed and
  // every known node failed. The owner then drops this connection (RedisPool fails fast and
  // reconnects from the seeds). One node's failure does not make it unreachable.
  bool unreachable() const { return unreachable_; }

  // The master a key's slot is routed to now (the map as last read, with MOVED corrections);
  // nullopt when none serves it. For tests and logs.
  std::optional<RedisNodeAddress> NodeForKey(std::string_view key) const;

 private:
  RedisClusterConnection(RedisConfig config, std::vector<RedisNodeAddress> seeds,
                         std::shared_ptr<ClusterNodeHealth> health);

  // Re-reads the map when due; OK with the old map if that fails but a map exists.
  Status RefreshIfDue();
  Status Refresh();
  // The open connection to `node`, opening it if needed; Unavailable while the node is in its
  // retry pause or when it can't be reached.
  Result<RedisConnection*> NodeConnection(const RedisNodeAddress& node);
  // Sends `commands` to `node` on `conn` as one pipeline, with the WAIT of replica_acks last
  // (its reply checked and removed); the replies of `commands`.
  Result<std::vector<RedisValue>> SendToNode(RedisConnection* conn, const RedisNodeAddress& node,
                                             std::vector<std::vector<std::string>> commands);
  // Records a failed node: connection dropped, retry pause, map re-read before the next call.
  Status NodeFailed(const RedisNodeAddress& node, const Status& why);
  // Records that `node` answered.
  void NodeAnswered(const RedisNodeAddress& node) { health_->Succeeded(node); }
  // Follows a redirect reply to `args` received from `from`, up to kMaxRedirects.
  Result<RedisValue> FollowRedirects(const std::vector<std::string>& args, Redirect redirect,
                                     const RedisNodeAddress& from);
  // Unavailable or Internal for a reply that is a cluster error other than a redirect; OK
  // otherwise.
  Status ClusterErrorStatus(const std::vector<std::string>& args, const RedisValue& reply,
                            const RedisNodeAddress& node);

  const RedisConfig config_;
  const std::vector<RedisNodeAddress> seeds_;
  std::optional<ClusterRoutingTable> table_;
  std::map<RedisNodeAddress, std::unique_ptr<RedisConnection>> nodes_;
  std::shared_ptr<ClusterNodeHealth> health_;  // failed nodes; shared with the pool
  bool refresh_due_ = false;
  int64_t last_refresh_ms_ = 0;
  bool unreachable_ = false;
};

}  // namespace courier
