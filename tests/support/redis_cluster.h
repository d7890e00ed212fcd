// RedisCluster: a real Redis Cluster for integration tests — N masters with R replicas each,
// every node a redis-server on free loopback ports (client port and cluster bus port), with an
// append-only file, in a temporary directory; created with `redis-cli --cluster create` and
// waited for until every node agrees on a complete slot map.
//
//   RedisCluster cluster;                        // 3 masters, 1 replica each; throws on failure
//   RedisConfig config = cluster.redis_config();  // cluster mode, seeds = every node
//   size_t m = *cluster.MasterOfKey("{u:alice}:meta");
//   cluster.Kill(m);                              // SIGKILL, by PID
//   REQUIRE(cluster.WaitForStable().ok());        // a replica took over its slots
//
// Nodes are numbered 0..size()-1 and keep their ports (and data directory) for the cluster's life,
// across Stop/Kill and Start. Their roles change with failovers: ask Role() or MasterOfSlot().
// The small --cluster-node-timeout (options.node_timeout_ms) makes a failover take a few seconds.
//
// Only the processes it started are signalled, by PID (tests/support/process.h: ChildProcess,
// which also kills them should the test die). The destructor stops every node and removes the
// directory, unless COURIER_KEEP_TEST_DIRS is set (then it says where it is).
//
// Thread-safety: not thread-safe. Create, control and destroy it on the test's main thread
// (ChildProcess's PR_SET_PDEATHSIG is tied to the starting thread). seeds(), port() and
// redis_config() are plain reads.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/redis_client.h"
#include "common/redis_cluster_routing.h"
#include "common/status.h"
#include "tests/support/process.h"

namespace courier::testing {

struct RedisClusterOptions {
  int masters = 3;              // at least 3: the smallest cluster redis-cli creates
  int replicas_per_master = 1;  // 0 or more
  int node_timeout_ms = 2000;   // --cluster-node-timeout: how soon a dead master is failed over
  std::vector<std::string> redis_args;             // extra arguments for every redis-server
  std::chrono::milliseconds ready_timeout{60000};  // bound on creation and on each Start()
  std::chrono::milliseconds stop_timeout{10000};   // SIGTERM to SIGKILL in Stop()
};

class RedisCluster {
 public:
  static constexpr const char* kHost = "127.0.0.1";

  enum class Role { kMaster, kReplica, kDown };

  // Starts masters × (1 + replicas) nodes, creates the cluster and waits for WaitForStable().
  // Throws std::runtime_error with the end of the failing node's or redis-cli's log; whatever
  // had started is stopped again.
  explicit RedisCluster(RedisClusterOptions options = {});
  ~RedisCluster();
  RedisCluster(const RedisCluster&) = delete;
  RedisCluster& operator=(const RedisCluster&) = delete;

  // ----- Where things are.
  size_t size() const { return nodes_.size(); }
  int port(size_t node) const { return nodes_.at(node).port; }
  RedisNodeAddress address(size_t node) const { return {kHost, port(node)}; }
  // The node whose client port is `port`; nullopt for none of ours.
  std::optional<size_t> NodeOfPort(int port) const;
  // The PID of the node's process (its last one once it has stopped).
  pid_t pid(size_t node) const { return nodes_.at(node).process.pid(); }
  // The node's process, e.g. to SIGSTOP it. Start/Stop/Kill go through this class.
  ChildProcess& process(size_t node) { return nodes_.at(node).process; }
  // "127.0.0.1:p0,127.0.0.1:p1,...": every node, for --redis-cluster / plugin_opt_redis_cluster.
  std::string seeds() const;
  // A RedisConfig in cluster mode with seeds().
  RedisConfig redis_config() const;
  const std::string& data_dir() const { return dir_; }
  std::string log_path(size_t node) const;
  std::string LogTail(size_t node, size_t lines = 30) const;

  // ----- Looking inside (each asks the nodes; Unavailable when none answers).
  // kDown when the process isn't running or doesn't answer ROLE.
  Role RoleOf(size_t node);
  // The node that serves `slot` per the first running node that answers CLUSTER SLOTS.
  Result<size_t> MasterOfSlot(uint16_t slot);
  Result<size_t> MasterOfKey(std::string_view key);
  // The running replicas of a master, per its replicas' own ROLE.
  std::vector<size_t> ReplicasOf(size_t master);
  // One command on a fresh connection to one node (not routed: MOVED comes back as it is).
  Result<RedisValue> Command(size_t node, const std::vector<std::string>& args) const;

  // ----- Control. Only our processes, by PID.
  void Kill(size_t node);  // SIGKILL at once
  void Stop(size_t node);  // SIGTERM, SIGKILL after stop_timeout; waits
  // Starts a stopped node again on its port with its data: it rejoins the cluster (a former
  // master comes back as a replica when it was failed over). Waits until it answers PING.
  Status Start(size_t node);
  bool Running(size_t node) { return nodes_.at(node).process.Running(); }
  // Stops every node (as the destructor does).
  void StopAll();

  // Waits (bounded) until the running nodes agree: every one says cluster_state:ok and reports
  // the same CLUSTER SLOTS, which covers every slot with running masters only, and every running
  // replica's link to its master is up. After Kill() of a master that is the failover done.
  // Unavailable saying what is still missing at the deadline.
  Status WaitForStable(std::chrono::milliseconds timeout = std::chrono::milliseconds(30000));

  // Waits (bounded) until every running replica of `master` has applied all of the master's
  // replication stream so far (equal offsets): writes made before the call survive a failover.
  Status WaitForReplication(size_t master,
                            std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));

  // Moving a slot between masters, as `redis-cli --cluster reshard` does, in steps so that a test
  // can stop half-way and see ASK redirects: Begin marks `slot` IMPORTING on `target` and
  // MIGRATING on its current master; MigrateKeys moves the named keys of the slot (MIGRATE);
  // Finish moves the slot's remaining keys and assigns the slot to `target` on every master.
  // MigrateSlot does all three. Internal quoting Redis' answer when a step is refused.
  Status BeginSlotMigration(uint16_t slot, size_t target);
  Status MigrateKeys(uint16_t slot, size_t target, const std::vector<std::string>& keys);
  Status FinishSlotMigration(uint16_t slot, size_t target);
  Status MigrateSlot(uint16_t slot, size_t target);
  // The node's cluster id (CLUSTER MYID).
  Result<std::string> NodeId(size_t node) const;

  // CLUSTER FAILOVER on `replica` (a coordinated switch, no data lost), then waits until it is a
  // master and WaitForStable() holds. InvalidField when it isn't a replica.
  Status ManualFailover(size_t replica,
                        std::chrono::milliseconds timeout = std::chrono::milliseconds(30000));

 private:
  struct Node {
    int port = 0;
    int bus_port = 0;
    std::string dir;
    ChildProcess process;
  };

  ChildSpec SpecFor(const Node& node) const;
  Status StartNode(size_t node);
  Status CreateCluster();
  // A command that must answer OK (or the given status) on a node; Internal quoting it if not.
  Status CommandOk(size_t node, const std::vector<std::string>& args) const;
  // "" when stable, else what is missing.
  std::string Unstable();

  RedisClusterOptions options_;
  std::string dir_;
  std::vector<Node> nodes_;
};

}  // namespace courier::testing
