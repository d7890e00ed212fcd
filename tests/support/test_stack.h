// TestStack: a whole Courier deployment for one integration test — redis-server (append-only
// file on), mosquitto with the broker auth plugin, courier-uplink and courier-downlink — on free
// loopback ports, in a temporary directory, with a fresh random JWT secret. Fault tests stop,
// kill and restart any component on the same port and data.
//
//   TestStack stack;                                 // everything up, or throws with the log
//   HttpClient http(stack.http_port());
//   MqttDevice phone(stack.mqtt());                  // meets bob's broker at Connect()
//   stack.KillRedis();
//   REQUIRE(stack.StartRedis().ok());                // same port, same AOF
//
// Two topologies (Topology; options.topology, else COURIER_TEST_TOPOLOGY):
//   kSingle   one redis-server, the brokers the options ask for (default one), one downlink.
//   kCluster  a Redis Cluster (tests/support/redis_cluster.h: 3 masters with a replica each, AOF
//             on) that uplinks and downlinks reach with --redis-cluster (and, as scripts/cluster,
//             --redis-replica-acks 1), plugins with plugin_opt_redis_cluster; at least 3 brokers
//             with a brokers file (users assigned by rendezvous hash, common/broker_ring.h);
//             2 downlinks sharing the delivery shards by lease (the main one and "downlink-b");
//             one uplink.
// A Component is the whole tier in either topology: Kill/Stop/Start/Restart(kRedis) act on every
// Redis process (every cluster node; Start waits for RedisCluster::WaitForStable()), kBroker on
// every broker in the cluster topology, kDownlink on every downlink the topology started (not on
// those StartExtraDownlink() added). Running(c) is true when all of them run. In the single
// topology only the main broker is kBroker, as before. Tests that must reach every Redis node
// (KEYS, SCAN, INFO) use RedisCommandOnMasters(); devices reach their user's broker through
// mqtt().
//
// Layout of data_dir(): jwt.secret, redis/ (AOF; single topology), brokers.list (with several
// brokers), mosquitto*.conf, logs/<component>.log. The cluster's nodes have their own directory
// (redis_cluster()->data_dir()).
// The destructor stops everything (uplinks and downlinks first, Redis last) and removes the
// directory, unless COURIER_KEEP_TEST_DIRS is set in the environment (then it says where it is).
//
// Thread-safety: not thread-safe. Create, start, stop and destroy it on the test's main thread
// (ChildProcess's PR_SET_PDEATHSIG is tied to the thread that starts a process); the accessors
// of ports and paths are plain reads and may be called from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/redis_client.h"
#include "common/status.h"
#include "tests/support/mqtt_device.h"
#include "tests/support/process.h"

namespace courier::testing {

class RedisCluster;

// The shape of the deployment a TestStack starts (see the top of this file).
enum class Topology { kSingle, kCluster };
// "single", "cluster".
const char* TopologyName(Topology t);
// The topology COURIER_TEST_TOPOLOGY names: unset, empty or "single" → kSingle, "cluster" →
// kCluster. Anything else throws std::runtime_error saying what is accepted.
Topology TopologyFromEnvironment();

enum class Component { kRedis, kBroker, kUplink, kDownlink };
// "redis", "broker", "uplink", "downlink": also the log file names.
const char* ComponentName(Component c);

// How long Start*() waits, and for what.
enum class WaitFor {
  kReady,  // fully usable: Redis answers PING, the broker accepts connections, the uplink's
           // /readyz is 200 (needs Redis and broker), the downlink's /healthz is 200. In the
           // cluster topology also: the cluster is stable (RedisCluster::WaitForStable), and the
           // running downlinks share the delivery and fan-out shards evenly (their
           // courier_downlink_owned_shards), so that ownership no longer moves
  kAlive,  // the process listens: for starting a component while a dependency is down
  kNothing,
};

struct TestStackOptions {
  // nullopt: the environment decides (TopologyFromEnvironment(), COURIER_TEST_TOPOLOGY). A test
  // whose subject is one topology (the single Redis' AOF file, its own cluster or shards) pins it.
  // TestStack::options().topology holds the resolved one.
  std::optional<Topology> topology;
  bool start_broker = true;  // false: no mosquitto (the uplink's /readyz then stays 503)
  bool start_uplink = true;
  bool start_downlink = true;
  std::string topic_root = "courier";
  std::string service_user = "courier-service";
  std::string log_level = "debug";  // of uplink and downlink; their logs are the test's record
  // 1000 is the smallest the uplink accepts; the production default of 100000 costs ~50 ms per
  // registration and login. 0 keeps the binary's default.
  int pbkdf2_iterations = 1000;
  int delivery_shards = 0;  // 0 keeps the binaries' default; else passed to uplink and downlink
  // Brokers started, each a mosquitto with the plugin (the cluster topology starts at least 3,
  // with the file). More than one, or broker_list_file: the brokers are listed in
  // data_dir()/brokers.list, which uplinks, downlinks and plugins read
  // (--mqtt-brokers-file, plugin_opt_brokers_file, plugin_opt_broker_id), and users are assigned
  // a broker by hash; AddBroker() then grows the list. One broker without the file: the plain
  // --mqtt-host/--mqtt-port setup every other test runs.
  int brokers = 1;
  bool broker_list_file = false;

  // Extra arguments or config lines per component, appended after the stack's own. The uplink's
  // own include a registration limit per address of 1000000 in a row (tests register hundreds
  // of users from 127.0.0.1); its login limits are the production defaults (they count failed
  // logins only). A flag in uplink_args overrides the stack's.
  std::vector<std::string> redis_args;     // e.g. {"--maxmemory", "10mb"}; every cluster node's
  std::vector<std::string> broker_config;  // lines for mosquitto.conf
  std::vector<std::string> uplink_args;    // e.g. {"--messaging-policy", "friends"}
  std::vector<std::string> downlink_args;
  // "NAME=value" environment entries for uplink and downlink (COURIER_* settings).
  std::vector<std::string> env;

  // Bound on each component's start; the error then quotes the end of its log.
  std::chrono::milliseconds ready_timeout{30000};
  // SIGTERM to SIGKILL in Stop*().
  std::chrono::milliseconds stop_timeout{10000};
};

class TestStack {
 public:
  static constexpr const char* kHost = "127.0.0.1";

  // Creates the directory and secret, picks ports and starts the components the options ask
  // for, each waited for with WaitFor::kReady (the uplink with kAlive when there is no broker).
  // Throws std::runtime_error naming the component that failed, with the end of its log; whatever
  // had started is stopped again.
  explicit TestStack(TestStackOptions options = {});
  ~TestStack();
  TestStack(const TestStack&) = delete;
  TestStack& operator=(const TestStack&) = delete;

  // ----- Where things are. Ports are fixed for the stack's life, across restarts.
  const std::string& data_dir() const { return dir_; }
  const std::string& secret_file() const { return secret_file_; }
  const std::string& jwt_secret() const { return secret_; }
  const TestStackOptions& options() const { return options_; }
  Topology topology() const { return *options_.topology; }
  // The single Redis' port; in the cluster topology node 0's (one seed of the cluster: a
  // connection to it alone sees only that node's slots; use RedisCommand()).
  int redis_port() const { return redis_port_; }
  // The cluster topology's Redis Cluster (e.g. to kill one master); nullptr in the single one.
  RedisCluster* redis_cluster() { return cluster_.get(); }
  const RedisCluster* redis_cluster() const { return cluster_.get(); }
  // The RedisConfig the servers use: one Redis at redis_port(), or the cluster's seeds.
  RedisConfig redis_config() const;
  // The first broker's port. For a device that must meet its user's broker use mqtt(); this is
  // for tests that address that one broker on purpose.
  int mqtt_port() const { return mqtt_port_; }
  // Where devices connect (MqttTarget, tests/support/mqtt_device.h): the brokers in list order,
  // users assigned by hash when there is a brokers file. A snapshot: after AddBroker() ask again.
  MqttTarget mqtt() const;
  // Brokers, in list order: 0 is Component::kBroker (mqtt_port()), the others extra processes.
  size_t broker_count() const { return 1 + extra_brokers_.size(); }
  int broker_port(size_t i) const { return i == 0 ? mqtt_port_ : extra_broker_ports_.at(i - 1); }
  ChildProcess& broker_process(size_t i) { return i == 0 ? broker_ : *extra_brokers_.at(i - 1); }
  // The broker `user_id` is assigned to (mqtt().PortFor): to freeze or kill one user's broker.
  ChildProcess& BrokerProcessFor(std::string_view user_id);
  // The brokers file ("" without one).
  std::string brokers_file() const;
  int http_port() const { return http_port_; }
  int metrics_port() const { return metrics_port_; }  // the downlink's /metrics and /healthz
  // The /metrics ports of every downlink of Component::kDownlink (main first): one in the single
  // topology, two in the cluster one. Counters of the tier are the sums over these.
  std::vector<int> downlink_metrics_ports() const;
  std::string http_url() const;             // "http://127.0.0.1:<http_port>"
  std::string log_path(Component c) const;  // kRedis in the cluster topology: node 0's
  // Every log file of the stack: the four components', extra uplinks' and downlinks', in name
  // order. Each holds all the runs of its process (restarts append).
  std::vector<std::string> LogPaths() const;

  // ----- Control. Start* is a no-op (OK) on a running component; it fails (Unavailable) with
  // the end of the log if the component exits or isn't ready within ready_timeout. Stop* sends
  // SIGTERM (SIGKILL after stop_timeout); Kill* sends SIGKILL at once: nothing is flushed.
  Status Start(Component c, WaitFor wait = WaitFor::kReady);
  void Stop(Component c);
  void Kill(Component c);
  Status Restart(Component c, WaitFor wait = WaitFor::kReady);  // Stop, then Start
  bool Running(Component c);
  // The process itself, e.g. to SIGSTOP it or read its PID: the main one of its tier.
  // Throws std::logic_error for kRedis in the cluster topology (there is no one Redis process).
  ChildProcess& process(Component c);
  // Every process of the tier Start/Stop/Kill(c) act on: the cluster's nodes for kRedis, every
  // broker and every downlink the topology started in the cluster topology; else process(c).
  std::vector<ChildProcess*> processes(Component c);

  Status StartRedis(WaitFor w = WaitFor::kReady) { return Start(Component::kRedis, w); }
  void StopRedis() { Stop(Component::kRedis); }
  void KillRedis() { Kill(Component::kRedis); }
  Status RestartRedis(WaitFor w = WaitFor::kReady) { return Restart(Component::kRedis, w); }
  Status StartBroker(WaitFor w = WaitFor::kReady) { return Start(Component::kBroker, w); }
  void StopBroker() { Stop(Component::kBroker); }
  void KillBroker() { Kill(Component::kBroker); }
  Status RestartBroker(WaitFor w = WaitFor::kReady) { return Restart(Component::kBroker, w); }
  Status StartUplink(WaitFor w = WaitFor::kReady) { return Start(Component::kUplink, w); }
  void StopUplink() { Stop(Component::kUplink); }
  void KillUplink() { Kill(Component::kUplink); }
  Status RestartUplink(WaitFor w = WaitFor::kReady) { return Restart(Component::kUplink, w); }
  Status StartDownlink(WaitFor w = WaitFor::kReady) { return Start(Component::kDownlink, w); }
  void StopDownlink() { Stop(Component::kDownlink); }
  void KillDownlink() { Kill(Component::kDownlink); }
  Status RestartDownlink(WaitFor w = WaitFor::kReady) { return Restart(Component::kDownlink, w); }

  // ----- Scale-out: more uplinks (each on its own port) and downlinks (each its own consumer
  // name) over the same Redis and broker; stopped with the stack. On failure, the Status quotes
  // the log.
  // The new uplink's HTTP port, once its /readyz is 200.
  Result<int> StartExtraUplink();
  // Once its /healthz is 200.
  Status StartExtraDownlink();
  std::vector<std::unique_ptr<ChildProcess>>& extra_uplinks() { return extra_uplinks_; }

  // ----- Broker sharding (options.brokers > 1 or broker_list_file).
  // Adds a broker as an operator would (docs/operations.md, "Adding a broker"): the list file is
  // rewritten with the new broker last, the new broker started with it, then every uplink and
  // downlink gets SIGHUP (and the main ones are waited for until their courier_mqtt_brokers
  // gauge shows the new count), then every other broker gets SIGHUP and tells its devices whose
  // users moved. The new broker's port; InvalidField without a brokers file.
  Result<int> AddBroker();
  // SIGHUP to every uplink and downlink, then to every broker. False if a signal failed.
  bool SignalReloadAll();
  std::vector<std::unique_ptr<ChildProcess>>& extra_downlinks() { return extra_downlinks_; }

  // Stops every component, as the destructor does, then looks through all logs (also of earlier
  // runs and of extra uplinks and downlinks) for sanitizer reports: in a sanitizer build a report
  // makes the component exit, and a test that restarts it, or whose assertions don't notice, would
  // pass otherwise. Returns Internal quoting each report's beginning, OK when there is none (always
  // in a normal build); once it has returned them, later calls only stop. The destructor calls it
  // and fails the running doctest test on a report; other owners call it and fail on non-OK.
  Status StopAll();

  // ----- Looking inside.
  // One command on a fresh connection to the stack's Redis, e.g. {"XLEN", "..."}.
  Result<RedisValue> RedisCommand(const std::vector<std::string>& args) const;
  // In the cluster topology the command is routed by its keys (common/redis_client's cluster
  // mode; keyless commands go to any node; KEYS and SCAN are refused there).
  // The same command on every Redis master, one result each (the single topology: one): for
  // KEYS, SCAN, INFO and the like, which see one node's keys only. Masters in node order.
  std::vector<Result<RedisValue>> RedisCommandOnMasters(const std::vector<std::string>& args);
  // Every key matching `pattern` (SCAN MATCH; on every master in the cluster topology), sorted.
  Result<std::vector<std::string>> RedisKeys(const std::string& pattern = "*");
  // The end of a component's log, for CHECK messages (kRedis in the cluster topology: every
  // node's, labelled; kBroker and kDownlink: the main process').
  std::string LogTail(Component c, size_t lines = 40) const;
  // The ends of all four logs, labelled: what a failing test should print.
  std::string AllLogTails(size_t lines = 20) const;
  // The beginning of every sanitizer report in the logs, labelled by log; "" if there is none.
  std::string SanitizerReports() const;

 private:
  // The temporary directory; removed when destroyed. A member of its own so that it goes last,
  // also when the constructor throws.
  class TempDir {
   public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }

   private:
    std::string path_;
  };

  ChildSpec SpecFor(Component c, int http_port, const std::string& log_name) const;
  Status WaitReady(Component c, ChildProcess& p, WaitFor wait, int port) const;
  // Waits until the running downlinks (the tier's and extra ones) own every shard of each kind,
  // evenly (each ⌊S/N⌋ or ⌈S/N⌉). Unavailable saying who owns what at the deadline.
  Status WaitForShardBalance();
  // Starts the main process of c (redis_, broker_, uplink_, downlink_) on its port.
  Status StartMain(Component c, WaitFor wait);
  // The first start, retried on fresh ports when another program took a port in between.
  void StartOrThrow(Component c, WaitFor wait);
  // The mosquitto.conf of broker `index` (0: the main one), with its port.
  std::string WriteBrokerConfig(size_t index, int port) const;
  void WriteBrokerList() const;
  bool sharded() const { return options_.brokers > 1 || options_.broker_list_file; }
  bool clustered() const { return cluster_ != nullptr; }
  // Starts extra broker `index` (1..) on its port, with its config written anew.
  Status StartExtraBroker(size_t index, WaitFor wait);
  // Starts the topology's downlink `i` (cluster: "downlink-b") on its port.
  Status StartTierDownlink(size_t i, WaitFor wait);
  // Waits until `port`'s /metrics shows courier_mqtt_brokers `count`.
  bool WaitForBrokerCount(int port, size_t count) const;
  int& PortOf(Component c);

  TestStackOptions options_;
  TempDir temp_;
  std::string dir_;
  std::string secret_file_;
  std::string secret_;
  int redis_port_ = 0;
  int mqtt_port_ = 0;
  int http_port_ = 0;
  int metrics_port_ = 0;
  int extra_count_ = 0;              // names the logs of extra uplinks and downlinks
  bool sanitizer_reported_ = false;  // StopAll() has returned the logs' reports once

  // Declared in start order: destroyed (stopped) API first, Redis last.
  std::unique_ptr<RedisCluster> cluster_;  // the cluster topology's Redis
  ChildProcess redis_;
  ChildProcess broker_;
  ChildProcess downlink_;
  ChildProcess uplink_;
  std::vector<std::unique_ptr<ChildProcess>> extra_brokers_;
  std::vector<int> extra_broker_ports_;
  std::vector<std::unique_ptr<ChildProcess>> extra_downlinks_;
  std::vector<int> extra_downlink_ports_;
  // The downlinks the topology starts besides the main one (cluster: one), part of kDownlink.
  std::vector<std::unique_ptr<ChildProcess>> tier_downlinks_;
  std::vector<int> tier_downlink_ports_;
  std::vector<std::unique_ptr<ChildProcess>> extra_uplinks_;
};

}  // namespace courier::testing
