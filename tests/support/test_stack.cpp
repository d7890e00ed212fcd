#include "tests/support/test_stack.h"

#include <doctest/doctest.h>
#include <hiredis/hiredis.h>
#include <httplib.h>
#include <unistd.h>

#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <thread>

#include "common/config.h"
#include "tests/support/redis_cluster.h"

namespace courier::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The binaries under test come from the build (tests/support/CMakeLists.txt).
constexpr const char* kUplinkBin = COURIER_UPLINK_BIN;
constexpr const char* kDownlinkBin = COURIER_DOWNLINK_BIN;
constexpr const char* kBrokerPlugin = COURIER_BROKER_PLUGIN;

// A sanitizer build (cmake -DCOURIER_SANITIZE=ON) passes the ASan runtime's path: mosquitto is
// not instrumented, so the runtime is preloaded into it before it dlopen()s our plugin.
#ifdef COURIER_ASAN_RUNTIME
constexpr const char* kAsanRuntime = COURIER_ASAN_RUNTIME;
#else
constexpr const char* kAsanRuntime = nullptr;
#endif

// Sanitizer options of the children: stop at the first report (a process that goes on after
// one would hide it behind later failures), with full stacks. Options already in the test's
// environment come after ours, so they win, except that the broker checks no leaks: what
// mosquitto itself still holds at exit is not ours to judge (Debian's 2.0.11 leaks subscription
// nodes from sub__add, mosquitto frames only), and the plugin's own memory is freed before.
std::string SanitizerOption(const char* name, std::string ours, const std::string& last = "") {
  const char* inherited = std::getenv(name);
  if (inherited != nullptr && *inherited != '\0') ours += std::string(":") + inherited;
  return std::string(name) + "=" + ours + last;
}

void AddSanitizerEnv(Component c, std::vector<std::string>& env) {
  if (kAsanRuntime == nullptr) return;
  const std::string asan = "halt_on_error=1:print_stacktrace=1:detect_leaks=1";
  if (c == Component::kBroker) {
    env.push_back(std::string("LD_PRELOAD=") + kAsanRuntime);
    env.push_back(SanitizerOption("ASAN_OPTIONS", asan, ":detect_leaks=0"));
  } else {
    env.push_back(SanitizerOption("ASAN_OPTIONS", asan));
  }
  env.push_back(SanitizerOption("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1"));
}

// What ASan, LeakSanitizer and UBSan print first in a report (to stderr, so to the log).
constexpr const char* kSanitizerMarkers[] = {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                                             "runtime error:"};

std::string RandomHexSecret() {
  std::ifstream urandom("/dev/urandom", std::ios::binary);
  unsigned char bytes[32] = {};
  urandom.read(reinterpret_cast<char*>(bytes), sizeof bytes);
  if (!urandom) throw std::runtime_error("TestStack: cannot read /dev/urandom");
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

// The part of a log written by the latest start (ChildProcess marks each start).
std::string LatestRun(const std::string& log) {
  size_t at = log.rfind("===== ChildProcess starts:");
  return at == std::string::npos ? log : log.substr(at);
}

bool RedisAnswersPing(int port) {
  struct Free {
    void operator()(redisContext* c) const { redisFree(c); }
    void operator()(redisReply* r) const { freeReplyObject(r); }
  };
  timeval tv{0, 500 * 1000};
  std::unique_ptr<redisContext, Free> c(redisConnectWithTimeout(TestStack::kHost, port, tv));
  if (!c || c->err != 0) return false;
  redisSetTimeout(c.get(), tv);
  std::unique_ptr<redisReply, Free> r(static_cast<redisReply*>(redisCommand(c.get(), "PING")));
  // While it loads the AOF, Redis answers -LOADING instead.
  return r && r->type == REDIS_REPLY_STATUS && std::string(r->str, r->len) == "PONG";
}

int HttpStatus(int port, const char* path) {
  httplib::Client client(TestStack::kHost, port);
  client.set_connection_timeout(0, 500 * 1000);
  client.set_read_timeout(2, 0);
  auto res = client.Get(path);
  return res ? res->status : 0;
}

// The state letter of a process and of each of its threads ("S: S S R ..."), from /proc; "?" when
// unreadable.
std::string ProcessStates(pid_t pid) {
  auto state_of = [](const std::string& stat_path) -> std::string {
    std::ifstream in(stat_path);
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t close = stat.rfind(')');  // the name may hold spaces and parentheses
    return close == std::string::npos || close + 2 >= stat.size() ? "?" : stat.substr(close + 2, 1);
  };
  const std::string dir = "/proc/" + std::to_string(pid);
  std::string out = state_of(dir + "/stat") + ":";
  std::error_code ec;
  for (const auto& task : fs::directory_iterator(dir + "/task", ec)) {
    out += " " + state_of(task.path().string() + "/stat");
  }
  return out;
}

std::string Unavailable(const std::string& what, ChildProcess& p) {
  return what + " (" + p.ExitDescription() + "); end of " + p.spec().log_path + ":\n" +
         p.LogTail(40);
}

}  // namespace

const char* TopologyName(Topology t) {
  switch (t) {
    case Topology::kSingle:
      return "single";
    case Topology::kCluster:
      return "cluster";
  }
  return "?";
}

Topology TopologyFromEnvironment() {
  const char* value = std::getenv("COURIER_TEST_TOPOLOGY");
  const std::string v = value == nullptr ? "" : value;
  if (v.empty() || v == "single") return Topology::kSingle;
  if (v == "cluster") return Topology::kCluster;
  throw std::runtime_error("COURIER_TEST_TOPOLOGY='" + v +
                           "' is not a topology: use 'single' (the default) or 'cluster'");
}

const char* ComponentName(Component c) {
  switch (c) {
    case Component::kRedis:
      return "redis";
    case Component::kBroker:
      return "broker";
    case Component::kUplink:
      return "uplink";
    case Component::kDownlink:
      return "downlink";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------

TestStack::TempDir::TempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/courier-test-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("TestStack: mkdtemp " + pattern + " failed");
  }
  path_ = pattern;
}

TestStack::TempDir::~TempDir() {
  if (std::getenv("COURIER_KEEP_TEST_DIRS") != nullptr) {
    std::fprintf(stderr, "TestStack: kept %s (COURIER_KEEP_TEST_DIRS is set)\n", path_.c_str());
    return;
  }
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

TestStack::TestStack(TestStackOptions options) : options_(std::move(options)) {
  if (!options_.topology) options_.topology = TopologyFromEnvironment();
  // The cluster topology: at least 3 brokers with a brokers file, users assigned by hash.
  if (topology() == Topology::kCluster) options_.brokers = std::max(options_.brokers, 3);
  dir_ = temp_.path();
  fs::create_directories(dir_ + "/redis");
  fs::create_directories(dir_ + "/logs");
  secret_ = RandomHexSecret();
  secret_file_ = dir_ + "/jwt.secret";
  {
    std::ofstream out(secret_file_);
    out << secret_ << "\n";
    if (!out) throw std::runtime_error("TestStack: cannot write " + secret_file_);
  }
  fs::permissions(secret_file_, fs::perms::owner_read | fs::perms::owner_write);

  if (topology() == Topology::kCluster) {
    RedisClusterOptions cluster;  // 3 masters with a replica each, AOF on
    cluster.redis_args = options_.redis_args;
    cluster.stop_timeout = options_.stop_timeout;
    cluster_ = std::make_unique<RedisCluster>(std::move(cluster));  // throws with the logs
    redis_port_ = cluster_->port(0);
  } else {
    redis_port_ = FreePort();
  }
  mqtt_port_ = FreePort();
  http_port_ = FreePort();
  metrics_port_ = FreePort();

  // If one throws, the members already started are stopped by their destructors.
  for (int i = 1; i < options_.brokers; ++i) extra_broker_ports_.push_back(FreePort());
  if (sharded()) WriteBrokerList();

  if (!clustered()) StartOrThrow(Component::kRedis, WaitFor::kReady);
  if (options_.start_broker) StartOrThrow(Component::kBroker, WaitFor::kReady);
  for (size_t i = 0; options_.start_broker && i < extra_broker_ports_.size(); ++i) {
    extra_brokers_.push_back(std::make_unique<ChildProcess>());
    Status s = StartExtraBroker(i + 1, WaitFor::kReady);
    if (!s.ok()) throw std::runtime_error("TestStack: extra broker: " + s.ToString());
  }
  if (options_.start_downlink) {
    StartOrThrow(Component::kDownlink, WaitFor::kReady);
    // The cluster topology's second downlink: the two share the delivery shards by lease.
    for (int i = 0; clustered() && i < 1; ++i) {
      tier_downlinks_.push_back(std::make_unique<ChildProcess>());
      tier_downlink_ports_.push_back(FreePort());
      Status s = StartTierDownlink(tier_downlinks_.size() - 1, WaitFor::kReady);
      if (!s.ok()) throw std::runtime_error("TestStack: second downlink: " + s.ToString());
    }
    if (clustered()) {
      Status s = WaitForShardBalance();
      if (!s.ok()) throw std::runtime_error("TestStack: " + s.ToString());
    }
  }
  // Without a broker the uplink's /readyz stays 503: then it only has to be up.
  if (options_.start_uplink) {
    StartOrThrow(Component::kUplink, options_.start_broker ? WaitFor::kReady : WaitFor::kAlive);
  }
}

TestStack::~TestStack() {
  Status s = StopAll();
  if (s.ok()) return;
  // A destructor can't throw: the report fails the doctest test that owns the stack. Other
  // owners (courier-chaos) call StopAll() themselves; for them it is printed at least.
  std::fprintf(stderr, "TestStack: %s\n", s.message().c_str());
  if (doctest::is_running_in_test) FAIL_CHECK(s.message());
}

Status TestStack::StopAll() {
  // The API first, so nothing new comes in; then delivery; then the broker; Redis last, so every
  // component can still reach it while it shuts down.
  for (auto& p : extra_uplinks_) p->Stop(options_.stop_timeout);
  uplink_.Stop(options_.stop_timeout);
  for (auto& p : extra_downlinks_) p->Stop(options_.stop_timeout);
  for (auto& p : tier_downlinks_) p->Stop(options_.stop_timeout);
  downlink_.Stop(options_.stop_timeout);
  for (auto& p : extra_brokers_) p->Stop(options_.stop_timeout);
  broker_.Stop(options_.stop_timeout);
  redis_.Stop(options_.stop_timeout);
  if (cluster_) cluster_->StopAll();
  if (sanitizer_reported_) return Status::Ok();
  std::string reports = SanitizerReports();
  if (reports.empty()) return Status::Ok();
  sanitizer_reported_ = true;
  return Status::Internal("sanitizer report in a component's log:\n" + reports);
}

std::string TestStack::SanitizerReports() const {
  std::string out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_ + "/logs", ec)) {
    std::ifstream in(entry.path());
    std::string line;
    int left = -1;  // lines still to quote of the current report; -1: none found yet
    while (std::getline(in, line)) {
      if (left < 0) {
        for (const char* marker : kSanitizerMarkers) {
          if (line.find(marker) != std::string::npos) {
            out += "----- " + entry.path().string() + " -----\n";
            left = 40;  // the report's first frames are what matter
            break;
          }
        }
      }
      if (left > 0) {
        out += line + "\n";
        --left;
      }
    }
  }
  return out;
}

std::string TestStack::http_url() const {
  return "http://" + std::string(kHost) + ":" + std::to_string(http_port_);
}

std::string TestStack::log_path(Component c) const {
  if (c == Component::kRedis && cluster_) return cluster_->log_path(0);
  return dir_ + "/logs/" + ComponentName(c) + ".log";
}

RedisConfig TestStack::redis_config() const {
  if (cluster_) return cluster_->redis_config();
  RedisConfig config;
  config.host = kHost;
  config.port = redis_port_;
  return config;
}

MqttTarget TestStack::mqtt() const {
  MqttTarget target;
  target.host = kHost;
  target.ports.push_back(mqtt_port_);
  target.ports.insert(target.ports.end(), extra_broker_ports_.begin(), extra_broker_ports_.end());
  // With a brokers file the servers assign users by hash over the file's entries, which are
  // "127.0.0.1:<port>" of these ports (WriteBrokerList).
  target.by_user_hash = sharded();
  return target;
}

std::vector<std::string> TestStack::LogPaths() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_ + "/logs", ec)) {
    if (entry.is_regular_file()) out.push_back(entry.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

ChildProcess& TestStack::process(Component c) {
  switch (c) {
    case Component::kRedis:
      if (cluster_) {
        throw std::logic_error(
            "TestStack::process(kRedis): the cluster topology's Redis is several processes; use "
            "processes(Component::kRedis) or redis_cluster()");
      }
      return redis_;
    case Component::kBroker:
      return broker_;
    case Component::kUplink:
      return uplink_;
    case Component::kDownlink:
      return downlink_;
  }
  throw std::logic_error("TestStack::process: bad component");
}

std::vector<ChildProcess*> TestStack::processes(Component c) {
  std::vector<ChildProcess*> out;
  if (c == Component::kRedis && cluster_) {
    for (size_t i = 0; i < cluster_->size(); ++i) out.push_back(&cluster_->process(i));
    return out;
  }
  out.push_back(&process(c));
  if (c == Component::kBroker && clustered()) {
    for (auto& p : extra_brokers_) out.push_back(p.get());
  }
  if (c == Component::kDownlink) {
    for (auto& p : tier_downlinks_) out.push_back(p.get());
  }
  return out;
}

int& TestStack::PortOf(Component c) {
  switch (c) {
    case Component::kRedis:
      return redis_port_;
    case Component::kBroker:
      return mqtt_port_;
    case Component::kUplink:
      return http_port_;
    case Component::kDownlink:
      return metrics_port_;
  }
  throw std::logic_error("TestStack::PortOf: bad component");
}

std::string TestStack::brokers_file() const {
  return sharded() ? dir_ + "/brokers.list" : std::string();
}

void TestStack::WriteBrokerList() const {
  // Written whole and renamed over the old one, so a process re-reading it never sees half.
  const std::string path = brokers_file();
  {
    std::ofstream out(path + ".new", std::ios::trunc);
    out << "# Written by TestStack: <internal host:port> [<public host:port>]\n";
    out << kHost << ":" << mqtt_port_ << "\n";
    for (int port : extra_broker_ports_) out << kHost << ":" << port << "\n";
  }
  fs::rename(path + ".new", path);
}

std::string TestStack::WriteBrokerConfig(size_t index, int port) const {
  const std::string path = dir_ + (index == 0 ? std::string("/mosquitto.conf")
                                              : "/mosquitto-" + std::to_string(index) + ".conf");
  std::ofstream out(path, std::ios::trunc);
  out << "# Written by TestStack.\n";
  // Started as root, mosquitto would switch to the 'mosquitto' user, which can't read the
  // mode-600 secret; "user root" keeps it as it is. For other users the option does nothing.
  if (geteuid() == 0) out << "user root\n";
  out << "per_listener_settings false\n"
      << "allow_anonymous false\n"
      << "listener " << port << " " << kHost << "\n"
      << "persistence false\n"
      << "max_queued_messages 10000\n"
      << "log_dest stderr\n"
      << "log_type all\n"
      << "log_timestamp_format %H:%M:%S\n"
      << "plugin " << kBrokerPlugin << "\n"
      << "plugin_opt_jwt_secret_file " << secret_file_ << "\n"
      << "plugin_opt_topic_root " << options_.topic_root << "\n"
      << "plugin_opt_service_user " << options_.service_user
      << "\n"
      // The shard count of the presence tasks: the uplink's and downlink's delivery_shards.
      << "plugin_opt_shards "
      << (options_.delivery_shards > 0 ? options_.delivery_shards : Config().delivery_shards)
      << "\n";
  if (cluster_) {
    out << "plugin_opt_redis_cluster " << cluster_->seeds() << "\n";
  } else {
    out << "plugin_opt_redis_host " << kHost << "\n"
        << "plugin_opt_redis_port " << redis_port_ << "\n";
  }
  if (sharded()) {
    out << "plugin_opt_brokers_file " << brokers_file() << "\n"
        << "plugin_opt_broker_id " << kHost << ":" << port << "\n";
  }
  for (const std::string& line : options_.broker_config) out << line << "\n";
  return path;
}

ChildSpec TestStack::SpecFor(Component c, int port, const std::string& log_name) const {
  ChildSpec spec;
  spec.log_path = dir_ + "/logs/" + log_name + ".log";
  // The secret comes from the file only: the broker plugin reads that same file.
  spec.env_unset = {"COURIER_JWT_SECRET"};
  const std::string host = kHost;
  // The cluster as scripts/cluster runs it: every write waits until a replica has it.
  const std::vector<std::string> redis =
      cluster_ ? std::vector<std::string>{"--redis-cluster", cluster_->seeds(),
                                          "--redis-replica-acks", "1"}
               : std::vector<std::string>{"--redis-host", host, "--redis-port",
                                          std::to_string(redis_port_)};
  const std::vector<std::string> common = {"--mqtt-host",       host,
                                           "--mqtt-port",       std::to_string(mqtt_port_),
                                           "--topic-root",      options_.topic_root,
                                           "--service-user",    options_.service_user,
                                           "--jwt-secret-file", secret_file_,
                                           "--log-level",       options_.log_level};
  auto append = [&spec](const std::vector<std::string>& args) {
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  };
  auto append_common = [&] {
    append(redis);
    append(common);
  };
  const std::vector<std::string> brokers =
      sharded() ? std::vector<std::string>{"--mqtt-brokers-file", brokers_file()}
                : std::vector<std::string>{};
  switch (c) {
    case Component::kRedis:
      spec.argv = {"redis-server"};
      append({"--bind", host, "--port", std::to_string(port), "--dir", dir_ + "/redis"});
      // AOF on with fsync every second, as in production; no RDB snapshots besides.
      append({"--appendonly", "yes", "--appendfsync", "everysec", "--save", ""});
      append({"--daemonize", "no", "--logfile", ""});
      append(options_.redis_args);
      break;
    case Component::kBroker:
      spec.argv = {"mosquitto", "-c", dir_ + "/mosquitto.conf"};
      AddSanitizerEnv(c, spec.env_set);
      break;
    case Component::kUplink:
      spec.argv = {kUplinkBin, "--http-host", host, "--http-port", std::to_string(port)};
      append_common();
      append(brokers);
      if (options_.pbkdf2_iterations > 0) {
        append({"--pbkdf2-iterations", std::to_string(options_.pbkdf2_iterations)});
      }
      if (options_.delivery_shards > 0) {
        append({"--delivery-shards", std::to_string(options_.delivery_shards)});
      }
      // Tests register hundreds of users from 127.0.0.1 in seconds; a test of the limit passes
      // its own in uplink_args, which come after and win.
      append({"--register-burst-per-address", "1000000", "--register-rate-per-address", "1000"});
      append(options_.uplink_args);
      spec.env_set = options_.env;
      AddSanitizerEnv(c, spec.env_set);
      break;
    case Component::kDownlink:
      // Each downlink its own consumer in the delivery group (and its own MQTT client id): the
      // main one "downlink", extra ones "downlink-<n>", all stable across restarts.
      spec.argv = {kDownlinkBin, "--metrics-port", std::to_string(port), "--consumer-name",
                   log_name};
      append_common();
      append(brokers);
      if (options_.delivery_shards > 0) {
        append({"--delivery-shards", std::to_string(options_.delivery_shards)});
      }
      append(options_.downlink_args);
      // An extra or second downlink keeps its own name whatever downlink_args say: two
      // downlinks of one name would share a consumer and an MQTT client id.
      if (log_name != ComponentName(Component::kDownlink)) append({"--consumer-name", log_name});
      spec.env_set = options_.env;
      AddSanitizerEnv(c, spec.env_set);
      break;
  }
  return spec;
}

Status TestStack::WaitReady(Component c, ChildProcess& p, WaitFor wait, int port) const {
  if (wait == WaitFor::kNothing) return Status::Ok();
  const std::string name = ComponentName(c);
  auto ready = [&]() -> bool {
    switch (c) {
      case Component::kRedis:
        return wait == WaitFor::kReady ? RedisAnswersPing(port)
                                       : PortAcceptsConnections(kHost, port);
      case Component::kBroker:
        return PortAcceptsConnections(kHost, port);
      case Component::kUplink:
        return HttpStatus(port, wait == WaitFor::kReady ? "/readyz" : "/healthz") == 200;
      case Component::kDownlink:
        return wait == WaitFor::kReady ? HttpStatus(port, "/healthz") == 200
                                       : PortAcceptsConnections(kHost, port);
    }
    return false;
  };
  const auto deadline = Clock::now() + options_.ready_timeout;
  while (true) {
    if (!p.Running()) return Status::Unavailable(Unavailable(name + " exited while starting", p));
    if (ready()) return Status::Ok();
    if (Clock::now() >= deadline) {
      return Status::Unavailable(Unavailable(
          name + " not ready within " + std::to_string(options_.ready_timeout.count()) + " ms", p));
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
}

Status TestStack::StartMain(Component c, WaitFor wait) {
  ChildProcess& p = process(c);
  if (p.Running()) return Status::Ok();
  if (c == Component::kBroker) WriteBrokerConfig(0, mqtt_port_);
  const int port = PortOf(c);
  if (Status s = p.Start(SpecFor(c, port, ComponentName(c))); !s.ok()) return s;
  return WaitReady(c, p, wait, port);
}

Status TestStack::Start(Component c, WaitFor wait) {
  if (c == Component::kRedis && cluster_) {
    for (size_t i = 0; i < cluster_->size(); ++i) {
      if (Status s = cluster_->Start(i); !s.ok()) return s;
    }
    if (wait != WaitFor::kReady) return Status::Ok();
    return cluster_->WaitForStable(std::max(options_.ready_timeout, milliseconds(30000)));
  }
  if (Status s = StartMain(c, wait); !s.ok()) return s;
  if (c == Component::kBroker && clustered()) {
    for (size_t i = 1; i <= extra_brokers_.size(); ++i) {
      if (Status s = StartExtraBroker(i, wait); !s.ok()) return s;
    }
  }
  if (c == Component::kDownlink) {
    for (size_t i = 0; i < tier_downlinks_.size(); ++i) {
      if (Status s = StartTierDownlink(i, wait); !s.ok()) return s;
    }
    if (clustered() && wait == WaitFor::kReady) return WaitForShardBalance();
  }
  return Status::Ok();
}

Status TestStack::StartExtraBroker(size_t index, WaitFor wait) {
  ChildProcess& p = *extra_brokers_.at(index - 1);
  if (p.Running()) return Status::Ok();
  const int port = extra_broker_ports_.at(index - 1);
  ChildSpec spec = SpecFor(Component::kBroker, port, "broker-" + std::to_string(index));
  spec.argv.back() = WriteBrokerConfig(index, port);
  if (Status s = p.Start(spec); !s.ok()) return s;
  return WaitReady(Component::kBroker, p, wait, port);
}

Status TestStack::StartTierDownlink(size_t i, WaitFor wait) {
  ChildProcess& p = *tier_downlinks_.at(i);
  if (p.Running()) return Status::Ok();
  const int port = tier_downlink_ports_.at(i);
  // Its own consumer name and log: "downlink-b", "downlink-c", ...
  const std::string name = std::string("downlink-") + static_cast<char>('b' + i);
  if (Status s = p.Start(SpecFor(Component::kDownlink, port, name)); !s.ok()) return s;
  return WaitReady(Component::kDownlink, p, wait, port);
}

void TestStack::StartOrThrow(Component c, WaitFor wait) {
  Status s;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    s = StartMain(c, wait);
    if (s.ok()) return;
    ChildProcess& p = process(c);
    // Another program took the port between FreePort() and the bind: try a new one. Anything
    // else is a real failure and retrying would only hide it.
    const std::string log = LatestRun(FileTail(log_path(c), 200));
    const bool port_taken = log.find("in use") != std::string::npos ||     // redis, mosquitto
                            log.find("cannot bind") != std::string::npos;  // uplink, downlink
    if (p.Running() || !port_taken) break;
    PortOf(c) = FreePort();
  }
  throw std::runtime_error("TestStack: " + s.ToString());
}

void TestStack::Stop(Component c) {
  if (c == Component::kRedis && cluster_) {
    cluster_->StopAll();
    return;
  }
  for (ChildProcess* p : processes(c)) p->Stop(options_.stop_timeout);
}

void TestStack::Kill(Component c) {
  if (c == Component::kRedis && cluster_) {
    for (size_t i = 0; i < cluster_->size(); ++i) cluster_->Kill(i);
    return;
  }
  for (ChildProcess* p : processes(c)) p->Kill();
}

Status TestStack::Restart(Component c, WaitFor wait) {
  Stop(c);
  return Start(c, wait);
}

bool TestStack::Running(Component c) {
  for (ChildProcess* p : processes(c)) {
    if (!p->Running()) return false;
  }
  return true;
}

Result<int> TestStack::StartExtraUplink() {
  const int port = FreePort();
  auto p = std::make_unique<ChildProcess>();
  std::string name = "uplink-" + std::to_string(++extra_count_);
  if (Status s = p->Start(SpecFor(Component::kUplink, port, name)); !s.ok()) return s;
  Status s = WaitReady(Component::kUplink, *p, WaitFor::kReady, port);
  extra_uplinks_.push_back(std::move(p));
  if (!s.ok()) return s;
  return port;
}

Status TestStack::StartExtraDownlink() {
  const int port = FreePort();
  auto p = std::make_unique<ChildProcess>();
  std::string name = "downlink-" + std::to_string(++extra_count_);
  if (Status s = p->Start(SpecFor(Component::kDownlink, port, name)); !s.ok()) return s;
  Status s = WaitReady(Component::kDownlink, *p, WaitFor::kReady, port);
  extra_downlinks_.push_back(std::move(p));
  extra_downlink_ports_.push_back(port);
  return s;
}

std::vector<int> TestStack::downlink_metrics_ports() const {
  std::vector<int> out = {metrics_port_};
  out.insert(out.end(), tier_downlink_ports_.begin(), tier_downlink_ports_.end());
  return out;
}

ChildProcess& TestStack::BrokerProcessFor(std::string_view user_id) {
  const int port = mqtt().PortFor(user_id);
  for (size_t i = 0; i < broker_count(); ++i) {
    if (broker_port(i) == port) return broker_process(i);
  }
  throw std::logic_error("TestStack::BrokerProcessFor: no broker on port " + std::to_string(port));
}

Status TestStack::WaitForShardBalance() {
  // The running downlinks and their /metrics ports.
  std::vector<int> ports;
  std::vector<ChildProcess*> running;
  auto add = [&ports, &running](ChildProcess& p, int port) {
    if (!p.Running()) return;
    ports.push_back(port);
    running.push_back(&p);
  };
  add(downlink_, metrics_port_);
  for (size_t i = 0; i < tier_downlinks_.size(); ++i)
    add(*tier_downlinks_[i], tier_downlink_ports_[i]);
  for (size_t i = 0; i < extra_downlinks_.size(); ++i) {
    add(*extra_downlinks_[i], extra_downlink_ports_[i]);
  }
  if (ports.empty()) return Status::Ok();
  const int shards =
      options_.delivery_shards > 0 ? options_.delivery_shards : Config().delivery_shards;
  const int n = static_cast<int>(ports.size());
  const int low = shards / n, high = (shards + n - 1) / n;
  std::string last;
  const auto deadline = Clock::now() + options_.ready_timeout;
  while (true) {
    bool balanced = true;
    last.clear();
    for (const char* kind : {"delivery", "fanout"}) {
      const std::string metric =
          std::string("courier_downlink_owned_shards{kind=\"") + kind + "\"} ";
      int total = 0;
      last += std::string(kind) + ":";
      for (int port : ports) {
        httplib::Client client(kHost, port);
        client.set_connection_timeout(0, 500 * 1000);
        client.set_read_timeout(2, 0);
        auto res = client.Get("/metrics");
        int owned = -1;
        // Why a downlink gave no figure, for the failure message.
        std::string why;
        if (!res) {
          why = "(" + httplib::to_string(res.error()) + ")";
        } else if (res->status != 200) {
          why = "(HTTP " + std::to_string(res->status) + ")";
        } else if (const size_t at = res->body.find(metric); at != std::string::npos) {
          owned = std::atoi(res->body.c_str() + at + metric.size());
        } else {
          why = "(no " + std::string(kind) + " gauge)";
        }
        last += " " + std::to_string(port) + "=" + std::to_string(owned) + why;
        total += owned;
        if (owned < low || owned > high) balanced = false;
      }
      if (total != shards) balanced = false;
      last += "; ";
    }
    if (balanced) return Status::Ok();
    if (Clock::now() >= deadline) {
      // Each downlink's state as the kernel sees it (R running, S sleeping, T stopped, D in
      // I/O), and its threads', then the end of its log.
      std::string logs;
      for (ChildProcess* p : running) {
        logs += "\npid " + std::to_string(p->pid()) + " state " + ProcessStates(p->pid()) + "\n" +
                p->LogTail(20);
      }
      return Status::Unavailable("the downlinks do not share the " + std::to_string(shards) +
                                 " shards evenly (owned per downlink, by metrics port: " + last +
                                 ")" + logs);
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
}

bool TestStack::WaitForBrokerCount(int port, size_t count) const {
  const std::string want = "courier_mqtt_brokers " + std::to_string(count) + "\n";
  const auto deadline = Clock::now() + options_.ready_timeout;
  while (Clock::now() < deadline) {
    httplib::Client client(kHost, port);
    client.set_connection_timeout(0, 500 * 1000);
    client.set_read_timeout(2, 0);
    auto res = client.Get("/metrics");
    if (res && res->status == 200 && res->body.find(want) != std::string::npos) return true;
    std::this_thread::sleep_for(milliseconds(50));
  }
  return false;
}

bool TestStack::SignalReloadAll() {
  bool ok = true;
  for (ChildProcess* p : {&uplink_, &downlink_}) {
    if (p->Running()) ok = p->Signal(SIGHUP) && ok;
  }
  for (auto& p : tier_downlinks_) ok = p->Signal(SIGHUP) && ok;
  for (auto& p : extra_uplinks_) ok = p->Signal(SIGHUP) && ok;
  for (auto& p : extra_downlinks_) ok = p->Signal(SIGHUP) && ok;
  for (size_t i = 0; i < broker_count(); ++i) {
    if (broker_process(i).Running()) ok = broker_process(i).Signal(SIGHUP) && ok;
  }
  return ok;
}

Result<int> TestStack::AddBroker() {
  if (!sharded()) {
    return Status::InvalidField(
        "AddBroker needs a brokers file (options.brokers > 1 or "
        "options.broker_list_file)");
  }
  const int port = FreePort();
  extra_broker_ports_.push_back(port);
  WriteBrokerList();
  const size_t index = extra_broker_ports_.size();
  auto p = std::make_unique<ChildProcess>();
  ChildSpec spec = SpecFor(Component::kBroker, port, "broker-" + std::to_string(index));
  spec.argv.back() = WriteBrokerConfig(index, port);
  Status s = p->Start(spec);
  if (s.ok()) s = WaitReady(Component::kBroker, *p, WaitFor::kReady, port);
  extra_brokers_.push_back(std::move(p));
  if (!s.ok()) return s;
  // Uplinks and downlinks first: pushes for a moved user then already go to its new broker
  // when its device gets there, and the uplink names the new broker when the device asks.
  bool signalled = true;
  for (ChildProcess* c : {&uplink_, &downlink_}) {
    if (c->Running()) signalled = c->Signal(SIGHUP) && signalled;
  }
  for (auto& c : extra_uplinks_) signalled = c->Signal(SIGHUP) && signalled;
  for (auto& c : tier_downlinks_) signalled = c->Signal(SIGHUP) && signalled;
  for (auto& c : extra_downlinks_) signalled = c->Signal(SIGHUP) && signalled;
  if (!signalled) return Status::Internal("AddBroker: SIGHUP to an uplink or downlink failed");
  const size_t count = broker_count();
  if (uplink_.Running() && !WaitForBrokerCount(http_port_, count)) {
    return Status::Unavailable("AddBroker: the uplink did not take the new list:\n" +
                               LogTail(Component::kUplink));
  }
  if (downlink_.Running() && !WaitForBrokerCount(metrics_port_, count)) {
    return Status::Unavailable("AddBroker: the downlink did not take the new list:\n" +
                               LogTail(Component::kDownlink));
  }
  for (size_t i = 0; i + 1 < count; ++i) {
    if (broker_process(i).Running() && !broker_process(i).Signal(SIGHUP)) {
      return Status::Internal("AddBroker: SIGHUP to broker " + std::to_string(i) + " failed");
    }
  }
  return port;
}

Result<RedisValue> TestStack::RedisCommand(const std::vector<std::string>& args) const {
  auto conn = RedisConnection::Connect(redis_config());
  if (!conn.ok()) return conn.status();
  return (*conn)->Command(args);
}

std::vector<Result<RedisValue>> TestStack::RedisCommandOnMasters(
    const std::vector<std::string>& args) {
  std::vector<Result<RedisValue>> out;
  if (!cluster_) {
    out.push_back(RedisCommand(args));
    return out;
  }
  for (size_t i = 0; i < cluster_->size(); ++i) {
    if (cluster_->RoleOf(i) == RedisCluster::Role::kMaster)
      out.push_back(cluster_->Command(i, args));
  }
  if (out.empty()) out.push_back(Status::Unavailable("no Redis Cluster master answers"));
  return out;
}

Result<std::vector<std::string>> TestStack::RedisKeys(const std::string& pattern) {
  // One node's keys, page by page.
  auto scan = [&pattern](
                  const std::function<Result<RedisValue>(const std::vector<std::string>&)>& command,
                  std::vector<std::string>* out) -> Status {
    std::string cursor = "0";
    do {
      Result<RedisValue> page = command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
      if (!page.ok()) return page.status();
      if (!page->is_array() || page->elements.size() != 2) {
        return Status::Internal("SCAN answered " + page->str);
      }
      cursor = page->elements[0].str;
      for (const RedisValue& k : page->elements[1].elements) out->push_back(k.str);
    } while (cursor != "0");
    return Status::Ok();
  };
  std::vector<std::string> keys;
  if (!cluster_) {
    auto conn = RedisConnection::Connect(redis_config());
    if (!conn.ok()) return conn.status();
    Status s = scan([&](const std::vector<std::string>& a) { return (*conn)->Command(a); }, &keys);
    if (!s.ok()) return s;
  } else {
    bool any = false;
    for (size_t i = 0; i < cluster_->size(); ++i) {
      if (cluster_->RoleOf(i) != RedisCluster::Role::kMaster) continue;
      any = true;
      Status s =
          scan([&](const std::vector<std::string>& a) { return cluster_->Command(i, a); }, &keys);
      if (!s.ok()) return s;
    }
    if (!any) return Status::Unavailable("no Redis Cluster master answers");
  }
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::string TestStack::LogTail(Component c, size_t lines) const {
  if (c == Component::kRedis && cluster_) {
    std::string out;
    for (size_t i = 0; i < cluster_->size(); ++i) {
      out += "--- node " + std::to_string(i) + " (" + cluster_->log_path(i) + ")\n" +
             cluster_->LogTail(i, lines);
    }
    return out;
  }
  return FileTail(log_path(c), lines);
}

std::string TestStack::AllLogTails(size_t lines) const {
  std::string out;
  for (Component c :
       {Component::kRedis, Component::kBroker, Component::kUplink, Component::kDownlink}) {
    out += "----- " + log_path(c) + " -----\n" + LogTail(c, lines);
  }
  return out;
}

}  // namespace courier::testing
