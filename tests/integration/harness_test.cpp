// Tests of tests/support itself, with plain programs (sh, redis-server) instead of Courier's
// binaries: what the fault tests rely on must work before they can mean anything.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "common/broker_ring.h"
#include "tests/support/courier_api.h"
#include "tests/support/http_client.h"
#include "tests/support/mqtt_device.h"
#include "tests/support/process.h"
#include "tests/support/redis_cluster.h"
#include "tests/support/test_stack.h"

namespace courier::testing {
namespace {

using namespace std::chrono_literals;

std::string TempLog(const char* name) {
  return (std::filesystem::temp_directory_path() /
          (std::string("courier-harness-") + std::to_string(getpid()) + "-" + name + ".log"))
      .string();
}

// Live (not zombie) processes in process group `pgid`, from /proc. Zombies don't count: an
// orphan's is reaped by PID 1 whenever that gets to it.
int LiveProcessesInGroup(pid_t pgid) {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::ifstream in(entry.path() / "stat");
    std::string line;
    if (!std::getline(in, line)) continue;
    // pid (comm) state ppid pgrp ...; comm may hold spaces, so parse after the last ')'.
    size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 1));
    char state = 0;
    long ppid = 0, pgrp = 0;
    rest >> state >> ppid >> pgrp;
    if (pgrp == pgid && state != 'Z') ++n;
  }
  return n;
}

TEST_CASE("ChildProcess reports how a child ended and logs its output") {
  const std::string log = TempLog("exit");
  ChildProcess p;
  REQUIRE(p.Start({{"sh", "-c", "echo hello from the child; exit 3"}, {}, {}, log}).ok());
  for (int i = 0; i < 200 && p.Running(); ++i) std::this_thread::sleep_for(10ms);
  CHECK_FALSE(p.Running());
  CHECK(p.exit_code() == 3);
  CHECK(p.ExitDescription() == "exited with status 3");
  CHECK(p.LogTail(5).find("hello from the child") != std::string::npos);
  std::filesystem::remove(log);
}

TEST_CASE("ChildProcess passes environment changes") {
  const std::string log = TempLog("env");
  setenv("COURIER_HARNESS_DROP", "x", 1);
  ChildProcess p;
  ChildSpec spec{{"sh", "-c", "echo \"[$COURIER_HARNESS_SET][${COURIER_HARNESS_DROP:-unset}]\""},
                 {"COURIER_HARNESS_SET=yes"},
                 {"COURIER_HARNESS_DROP"},
                 log};
  REQUIRE(p.Start(spec).ok());
  for (int i = 0; i < 200 && p.Running(); ++i) std::this_thread::sleep_for(10ms);
  CHECK(p.LogTail(1) == "[yes][unset]\n");
  unsetenv("COURIER_HARNESS_DROP");
  std::filesystem::remove(log);
}

TEST_CASE("ChildProcess::Stop escalates to SIGKILL for a child that ignores SIGTERM") {
  ChildProcess p;
  // The child and the process it forks both ignore TERM; the group kill must take both.
  REQUIRE(p.Start({{"sh", "-c", "trap '' TERM; sleep 60 & wait"}, {}, {}, ""}).ok());
  std::this_thread::sleep_for(200ms);
  const pid_t pgid = p.pid();
  const auto t0 = std::chrono::steady_clock::now();
  p.Stop(300ms);
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  CHECK_FALSE(p.Running());
  CHECK(p.term_signal() == SIGKILL);
  int live = 1;
  for (int i = 0; i < 100 && live > 0; ++i) {  // SIGKILL is delivered asynchronously
    live = LiveProcessesInGroup(pgid);
    if (live > 0) std::this_thread::sleep_for(20ms);
  }
  CHECK(live == 0);  // the forked `sleep` went too
}

TEST_CASE("ChildProcess::Kill and a failed exec") {
  ChildProcess p;
  REQUIRE(p.Start({{"sleep", "60"}, {}, {}, ""}).ok());
  CHECK(p.Running());
  p.Kill();
  CHECK(p.term_signal() == SIGKILL);
  CHECK_FALSE(p.Start({{"/nonexistent/program"}, {}, {}, ""}).ok());
}

TEST_CASE("FreePort hands out distinct ports that accept a bind") {
  int a = FreePort();
  int b = FreePort();
  CHECK(a > 0);
  CHECK(a != b);
  CHECK_FALSE(PortAcceptsConnections("127.0.0.1", a, 200ms));
}

TEST_CASE("TestStack's Redis keeps its data through stop/start and kill -9 (AOF)") {
  TestStackOptions options;
  options.topology = Topology::kSingle;  // its own topology (not the environment's)
  options.start_broker = false;
  options.start_uplink = false;
  options.start_downlink = false;
  TestStack stack(options);
  const int port = stack.redis_port();

  REQUIRE(stack.RedisCommand({"SET", "k1", "v1"}).ok());
  stack.StopRedis();  // SIGTERM: Redis flushes the AOF on the way out
  CHECK_FALSE(stack.RedisCommand({"PING"}).ok());
  REQUIRE(stack.StartRedis().ok());
  CHECK(stack.redis_port() == port);
  auto v = stack.RedisCommand({"GET", "k1"});
  REQUIRE(v.ok());
  CHECK(v->str == "v1");

  // appendfsync everysec: a write is on disk within about a second, kill -9 or not.
  REQUIRE(stack.RedisCommand({"SET", "k2", "v2"}).ok());
  std::this_thread::sleep_for(1500ms);
  stack.KillRedis();
  REQUIRE(stack.StartRedis().ok());
  v = stack.RedisCommand({"GET", "k2"});
  REQUIRE(v.ok());
  CHECK(v->str == "v2");
  CHECK(std::filesystem::exists(stack.data_dir() + "/redis/appendonlydir"));
}

TEST_CASE("TestStack finds a sanitizer report in any component's log, and StopAll returns it") {
  TestStackOptions options;
  options.topology = Topology::kSingle;  // its own topology (not the environment's)
  options.start_broker = false;
  options.start_uplink = false;
  options.start_downlink = false;
  TestStack stack(options);
  CHECK(stack.SanitizerReports().empty());

  // What a crashed extra downlink of a sanitizer build leaves behind.
  const std::string log = stack.data_dir() + "/logs/downlink-9.log";
  std::ofstream(log) << "12:00:00 [info] delivering\n"
                     << "==42==ERROR: AddressSanitizer: heap-use-after-free on address 0x6020\n"
                     << "    #0 0x55 in courier::DeliveryWorker::Run() delivery_worker.cpp:10\n";
  std::string reports = stack.SanitizerReports();
  CHECK(reports.find("downlink-9.log") != std::string::npos);
  CHECK(reports.find("heap-use-after-free") != std::string::npos);
  CHECK(reports.find("DeliveryWorker::Run") != std::string::npos);
  CHECK(reports.find("delivering") == std::string::npos);  // the report, not the whole log

  std::ofstream(log) << "a.cpp:3:5: runtime error: signed integer overflow\n";
  Status s = stack.StopAll();
  CHECK(s.code() == Status::Code::kInternal);
  CHECK(s.message().find("signed integer overflow") != std::string::npos);
  CHECK_FALSE(stack.Running(Component::kRedis));
  // Found once: the destructor's StopAll() does not fail this test a second time.
  CHECK(stack.StopAll().ok());
}

TEST_CASE(
    "COURIER_TEST_TOPOLOGY chooses the topology: single by default, anything unknown throws") {
  const char* was = std::getenv("COURIER_TEST_TOPOLOGY");
  const std::string saved = was == nullptr ? "" : was;
  struct Restore {
    bool had;
    std::string value;
    ~Restore() {
      if (had) {
        setenv("COURIER_TEST_TOPOLOGY", value.c_str(), 1);
      } else {
        unsetenv("COURIER_TEST_TOPOLOGY");
      }
    }
  } restore{was != nullptr, saved};

  unsetenv("COURIER_TEST_TOPOLOGY");
  CHECK(TopologyFromEnvironment() == Topology::kSingle);
  setenv("COURIER_TEST_TOPOLOGY", "", 1);
  CHECK(TopologyFromEnvironment() == Topology::kSingle);
  setenv("COURIER_TEST_TOPOLOGY", "single", 1);
  CHECK(TopologyFromEnvironment() == Topology::kSingle);
  setenv("COURIER_TEST_TOPOLOGY", "cluster", 1);
  CHECK(TopologyFromEnvironment() == Topology::kCluster);
  setenv("COURIER_TEST_TOPOLOGY", "Cluster ", 1);
  CHECK_THROWS_WITH_AS(TopologyFromEnvironment(),
                       doctest::Contains("use 'single' (the default) or 'cluster'"),
                       std::runtime_error);
  // A stack asks the environment only when its options leave the topology open.
  TestStackOptions options;
  CHECK_THROWS_AS(TestStack{options}, std::runtime_error);
}

TEST_CASE("MqttTarget assigns users as the servers' BrokerRing does, and one broker takes all") {
  MqttTarget one;
  one.ports = {1883};
  CHECK(one.PortFor("alice") == 1883);
  CHECK(one.PortFor("bob") == 1883);

  MqttTarget three;
  three.ports = {2001, 2002, 2003};
  three.by_user_hash = true;
  std::vector<BrokerAddress> brokers;
  for (int port : three.ports) brokers.push_back({"127.0.0.1", port});
  Result<BrokerRing> ring = BrokerRing::Create(brokers);
  REQUIRE(ring.ok());
  std::set<int> used;
  for (int i = 0; i < 60; ++i) {
    const std::string user = "user" + std::to_string(i);
    CHECK(three.PortFor(user) == ring->BrokerFor(user).port);
    used.insert(three.PortFor(user));
  }
  CHECK(used.size() == 3);
  MqttTarget none;
  CHECK_THROWS_AS(none.PortFor("alice"), std::invalid_argument);
}

TEST_CASE("the cluster topology: a Redis Cluster, 3 brokers, 2 downlinks, acted on as tiers") {
  TestStackOptions options;
  options.topology = Topology::kCluster;
  TestStack stack(options);
  REQUIRE(stack.topology() == Topology::kCluster);
  RedisCluster* cluster = stack.redis_cluster();
  REQUIRE(cluster != nullptr);
  CHECK(cluster->size() == 6);
  CHECK(stack.redis_port() == cluster->port(0));
  CHECK(stack.broker_count() == 3);
  CHECK(stack.processes(Component::kBroker).size() == 3);
  CHECK(stack.processes(Component::kDownlink).size() == 2);
  CHECK(stack.downlink_metrics_ports().size() == 2);
  CHECK(stack.processes(Component::kRedis).size() == 6);
  CHECK(stack.processes(Component::kUplink).size() == 1);
  CHECK_THROWS_AS(stack.process(Component::kRedis), std::logic_error);
  CHECK_FALSE(stack.brokers_file().empty());
  for (Component c :
       {Component::kRedis, Component::kBroker, Component::kUplink, Component::kDownlink}) {
    CHECK(stack.Running(c));
  }

  // The uplink names each user's broker; the harness's target picks the same, and the device
  // is let in there.
  HttpClient http(stack.http_port());
  const MqttTarget target = stack.mqtt();
  REQUIRE(target.ports.size() == 3);
  std::set<int> brokers_used;
  for (int i = 0; i < 12; ++i) {
    const std::string user = "u" + std::to_string(i);
    Register(http, user);
    Login login = LogIn(http, user, "phone");
    CAPTURE(user);
    CHECK(login.mqtt["port"] == target.PortFor(user));
    brokers_used.insert(target.PortFor(user));
  }
  CHECK(brokers_used.size() == 3);  // 12 users over 3 brokers: each has some (fixed ring odds)
  Login u0 = LogIn(http, "u0", "phone");
  MqttDevice phone(stack.mqtt());
  ConnectInbox(phone, u0, stack);
  // Not on another broker: the plugin refuses a user assigned elsewhere.
  for (int port : target.ports) {
    if (port == target.PortFor("u0")) continue;
    MqttDevice elsewhere(port);
    CHECK_FALSE(
        elsewhere.Connect(u0.client_id(), "u0", u0.token, std::chrono::seconds(30), 5000ms));
  }

  // Keys route by slot, over masters; every master's keys are listed.
  const std::vector<std::string> keys = {"{u:a}:x", "{u:b}:x", "{u:c}:x", "{u:d}:x", "{u:e}:x"};
  std::set<size_t> masters;
  for (const std::string& k : keys) {
    REQUIRE(stack.RedisCommand({"SET", k, "v"}).ok());
    masters.insert(*cluster->MasterOfKey(k));
  }
  CHECK(masters.size() >= 2);
  Result<std::vector<std::string>> listed = stack.RedisKeys("{u:?}:x");
  REQUIRE(listed.ok());
  CHECK(*listed == keys);
  CHECK(stack.RedisCommandOnMasters({"PING"}).size() == 3);

  // Redis as a tier: every node killed, started again from its AOF, the cluster whole again.
  std::this_thread::sleep_for(1500ms);  // appendfsync everysec
  stack.KillRedis();
  for (size_t i = 0; i < cluster->size(); ++i) CHECK_FALSE(cluster->Running(i));
  CHECK_FALSE(stack.Running(Component::kRedis));
  CHECK_FALSE(stack.RedisCommand({"GET", keys[0]}).ok());
  Status started = stack.StartRedis();
  REQUIRE_MESSAGE(started.ok(), started.ToString());
  CHECK(stack.Running(Component::kRedis));
  for (const std::string& k : keys) {
    Result<RedisValue> v = stack.RedisCommand({"GET", k});
    REQUIRE_MESSAGE(v.ok(), v.status().ToString());
    CHECK(v->str == "v");
  }

  // Brokers and downlinks as tiers.
  stack.StopBroker();
  for (ChildProcess* p : stack.processes(Component::kBroker)) CHECK_FALSE(p->Running());
  CHECK(phone.WaitForDisconnect(5000ms));
  REQUIRE(stack.StartBroker().ok());
  CHECK(stack.Running(Component::kBroker));
  stack.KillDownlink();
  for (ChildProcess* p : stack.processes(Component::kDownlink)) CHECK_FALSE(p->Running());
  Status downlinks = stack.StartDownlink();  // waits until they share the shards again
  REQUIRE_MESSAGE(downlinks.ok(), downlinks.ToString());
  CHECK(stack.Running(Component::kDownlink));

  // And the stack delivers.
  Register(http, "alice");
  Login alice = LogIn(http, "alice", "phone");
  MqttDevice again(stack.mqtt());
  ConnectInbox(again, u0, stack);
  SendOk(http, alice, "u0", "after-the-faults");
  CHECK_MESSAGE(WaitForSeq(again, u0.inbox(), 1, 20s), stack.AllLogTails());
}

}  // namespace
}  // namespace courier::testing
