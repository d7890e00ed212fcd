#include "tests/support/redis_cluster.h"

#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "common/redis_cluster_slots.h"

namespace courier::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string MakeTempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/courier-cluster-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("RedisCluster: mkdtemp " + pattern + " failed");
  }
  return pattern;
}

// A CLUSTER SLOTS map as text ("0-5460@7001 ..."), to compare the nodes' views.
std::string Describe(const SlotMap& map) {
  std::string out;
  for (const SlotRange& r : map.ranges()) {
    out +=
        std::to_string(r.first) + "-" + std::to_string(r.last) + "@" + std::to_string(r.port) + " ";
  }
  return out;
}

}  // namespace

RedisCluster::RedisCluster(RedisClusterOptions options) : options_(std::move(options)) {
  if (options_.masters < 3 || options_.replicas_per_master < 0) {
    throw std::runtime_error("RedisCluster: needs at least 3 masters and 0 or more replicas");
  }
  dir_ = MakeTempDir();
  const int count = options_.masters * (1 + options_.replicas_per_master);
  nodes_.resize(static_cast<size_t>(count));
  try {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      Node& n = nodes_[i];
      n.port = FreePort();
      // The bus port is chosen too (--cluster-port), not port + 10000, which may be taken or
      // beyond 65535.
      n.bus_port = FreePort();
      n.dir = dir_ + "/node-" + std::to_string(i);
      fs::create_directories(n.dir);
      if (Status s = StartNode(i); !s.ok())
        throw std::runtime_error("RedisCluster: " + s.message());
    }
    if (Status s = CreateCluster(); !s.ok())
      throw std::runtime_error("RedisCluster: " + s.message());
    if (Status s = WaitForStable(options_.ready_timeout); !s.ok()) {
      throw std::runtime_error("RedisCluster: not stable after creation: " + s.message());
    }
  } catch (...) {
    StopAll();
    std::error_code ignored;
    if (std::getenv("COURIER_KEEP_TEST_DIRS") == nullptr) fs::remove_all(dir_, ignored);
    throw;
  }
}

RedisCluster::~RedisCluster() {
  StopAll();
  if (std::getenv("COURIER_KEEP_TEST_DIRS") != nullptr) {
    std::fprintf(stderr, "RedisCluster: kept %s (COURIER_KEEP_TEST_DIRS is set)\n", dir_.c_str());
    return;
  }
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

std::optional<size_t> RedisCluster::NodeOfPort(int port) const {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].port == port) return i;
  }
  return std::nullopt;
}

std::string RedisCluster::seeds() const {
  std::string out;
  for (const Node& n : nodes_) {
    if (!out.empty()) out += ",";
    out += std::string(kHost) + ":" + std::to_string(n.port);
  }
  return out;
}

RedisConfig RedisCluster::redis_config() const {
  RedisConfig config;
  config.cluster = seeds();
  return config;
}

std::string RedisCluster::log_path(size_t node) const { return nodes_.at(node).dir + "/redis.log"; }

std::string RedisCluster::LogTail(size_t node, size_t lines) const {
  return FileTail(log_path(node), lines);
}

ChildSpec RedisCluster::SpecFor(const Node& n) const {
  ChildSpec spec;
  spec.argv = {"redis-server", "--bind", kHost, "--port", std::to_string(n.port), "--dir", n.dir,
               "--daemonize", "no", "--logfile", "", "--save", "", "--appendonly", "yes",
               "--appendfsync", "everysec", "--cluster-enabled", "yes", "--cluster-config-file",
               n.dir + "/nodes.conf", "--cluster-port", std::to_string(n.bus_port),
               "--cluster-node-timeout", std::to_string(options_.node_timeout_ms),
               // A replica's first sync starts at once rather than after 5 s.
               "--repl-diskless-sync-delay", "0"};
  spec.argv.insert(spec.argv.end(), options_.redis_args.begin(), options_.redis_args.end());
  spec.log_path = log_path(static_cast<size_t>(&n - nodes_.data()));
  return spec;
}

Status RedisCluster::StartNode(size_t node) {
  Node& n = nodes_.at(node);
  if (n.process.Running()) return Status::Ok();
  if (Status s = n.process.Start(SpecFor(n)); !s.ok()) return s;
  const auto deadline = Clock::now() + options_.ready_timeout;
  while (true) {
    if (!n.process.Running()) {
      return Status::Unavailable("node " + std::to_string(node) + " (port " +
                                 std::to_string(n.port) + ") exited while starting (" +
                                 n.process.ExitDescription() + "):\n" + LogTail(node));
    }
    auto pong = Command(node, {"PING"});
    if (pong.ok() && pong->str == "PONG") return Status::Ok();
    if (Clock::now() >= deadline) {
      return Status::Unavailable("node " + std::to_string(node) + " not answering PING:\n" +
                                 LogTail(node));
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
}

Status RedisCluster::CreateCluster() {
  ChildSpec spec;
  spec.argv = {"redis-cli", "--cluster", "create"};
  for (const Node& n : nodes_)
    spec.argv.push_back(std::string(kHost) + ":" + std::to_string(n.port));
  spec.argv.insert(
      spec.argv.end(),
      {"--cluster-replicas", std::to_string(options_.replicas_per_master), "--cluster-yes"});
  spec.log_path = dir_ + "/cluster-create.log";
  ChildProcess cli;
  if (Status s = cli.Start(spec); !s.ok()) return s;
  const auto deadline = Clock::now() + options_.ready_timeout;
  while (cli.Running()) {
    if (Clock::now() >= deadline) {
      cli.Kill();
      return Status::Unavailable("redis-cli --cluster create did not finish:\n" +
                                 FileTail(spec.log_path, 30));
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  if (cli.exit_code() != 0) {
    return Status::Unavailable("redis-cli --cluster create " + cli.ExitDescription() + ":\n" +
                               FileTail(spec.log_path, 30));
  }
  return Status::Ok();
}

Result<RedisValue> RedisCluster::Command(size_t node, const std::vector<std::string>& args) const {
  RedisConfig config;
  config.host = kHost;
  config.port = port(node);
  config.connect_timeout_ms = 500;
  config.command_timeout_ms = 5000;
  auto conn = RedisConnection::Connect(config);
  if (!conn.ok()) return conn.status();
  return (*conn)->Command(args);
}

RedisCluster::Role RedisCluster::RoleOf(size_t node) {
  if (!Running(node)) return Role::kDown;
  auto role = Command(node, {"ROLE"});
  if (!role.ok() || !role->is_array() || role->elements.empty()) return Role::kDown;
  return role->elements[0].str == "master" ? Role::kMaster : Role::kReplica;
}

Result<size_t> RedisCluster::MasterOfSlot(uint16_t slot) {
  Status last = Status::Unavailable("no node is running");
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (!Running(i)) continue;
    auto reply = Command(i, {"CLUSTER", "SLOTS"});
    if (!reply.ok()) {
      last = reply.status();
      continue;
    }
    auto map = SlotMap::FromClusterSlots(*reply);
    if (!map.ok()) return map.status();
    const SlotRange* owner = map->Owner(slot);
    if (owner == nullptr) return Status::NotFound("no master serves slot " + std::to_string(slot));
    auto node = NodeOfPort(owner->port);
    if (!node) return Status::NotFound("slot served by a port not ours");
    return *node;
  }
  return last;
}

Result<size_t> RedisCluster::MasterOfKey(std::string_view key) {
  return MasterOfSlot(KeySlot(key));
}

std::vector<size_t> RedisCluster::ReplicasOf(size_t master) {
  std::vector<size_t> replicas;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (i == master || !Running(i)) continue;
    auto role = Command(i, {"ROLE"});
    // A replica's ROLE: ["slave", master host, master port, state, offset].
    if (role.ok() && role->is_array() && role->elements.size() >= 3 &&
        role->elements[0].str == "slave" && role->elements[2].integer == port(master)) {
      replicas.push_back(i);
    }
  }
  return replicas;
}

void RedisCluster::Kill(size_t node) { nodes_.at(node).process.Kill(); }

void RedisCluster::Stop(size_t node) { nodes_.at(node).process.Stop(options_.stop_timeout); }

Status RedisCluster::Start(size_t node) { return StartNode(node); }

void RedisCluster::StopAll() {
  for (Node& n : nodes_) n.process.Stop(options_.stop_timeout);
}

std::string RedisCluster::Unstable() {
  std::optional<std::string> agreed;
  size_t running = 0;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (!Running(i)) continue;
    ++running;
    const std::string who = "node " + std::to_string(i) + " (port " + std::to_string(port(i)) + ")";
    auto info = Command(i, {"CLUSTER", "INFO"});
    if (!info.ok()) return who + ": " + info.status().message();
    if (info->str.find("cluster_state:ok") == std::string::npos)
      return who + ": cluster_state not ok";
    auto slots = Command(i, {"CLUSTER", "SLOTS"});
    if (!slots.ok()) return who + ": " + slots.status().message();
    auto map = SlotMap::FromClusterSlots(*slots);
    if (!map.ok()) return who + ": " + map.status().message();
    if (!map->CoversAll()) return who + ": slots not all covered";
    for (const SlotRange& r : map->ranges()) {
      auto owner = NodeOfPort(r.port);
      if (!owner || !Running(*owner)) {
        return who + ": slots " + std::to_string(r.first) + "-" + std::to_string(r.last) +
               " still on stopped port " + std::to_string(r.port);
      }
    }
    const std::string view = Describe(*map);
    if (!agreed) {
      agreed = view;
    } else if (*agreed != view) {
      return who + " sees another slot map: " + view + "vs " + *agreed;
    }
    auto role = Command(i, {"ROLE"});
    if (!role.ok()) return who + ": " + role.status().message();
    if (role->is_array() && role->elements.size() >= 4 && role->elements[0].str == "slave" &&
        role->elements[3].str != "connected") {
      return who + ": replica link " + role->elements[3].str;
    }
  }
  if (running == 0) return "no node is running";
  return "";
}

Status RedisCluster::WaitForStable(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    std::string missing = Unstable();
    if (missing.empty()) return Status::Ok();
    if (Clock::now() >= deadline) {
      return Status::Unavailable("cluster not stable within " + std::to_string(timeout.count()) +
                                 " ms: " + missing);
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
}

Status RedisCluster::ManualFailover(size_t replica, std::chrono::milliseconds timeout) {
  if (RoleOf(replica) != Role::kReplica) {
    return Status::InvalidField("node " + std::to_string(replica) + " is not a replica");
  }
  auto r = Command(replica, {"CLUSTER", "FAILOVER"});
  if (!r.ok()) return r.status();
  if (r->type == RedisValue::Type::kError) return Status::Internal("CLUSTER FAILOVER: " + r->str);
  const auto deadline = Clock::now() + timeout;
  while (RoleOf(replica) != Role::kMaster) {
    if (Clock::now() >= deadline) {
      return Status::Unavailable("node " + std::to_string(replica) + " not master within " +
                                 std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  return WaitForStable(timeout);
}

Status RedisCluster::CommandOk(size_t node, const std::vector<std::string>& args) const {
  auto r = Command(node, args);
  if (!r.ok()) return r.status();
  if (r->type == RedisValue::Type::kError) {
    return Status::Internal(args[0] + " " + (args.size() > 1 ? args[1] : "") + " on node " +
                            std::to_string(node) + ": " + r->str);
  }
  return Status::Ok();
}

Result<std::string> RedisCluster::NodeId(size_t node) const {
  auto r = Command(node, {"CLUSTER", "MYID"});
  if (!r.ok()) return r.status();
  if (!r->is_string()) return Status::Internal("CLUSTER MYID: " + r->str);
  return r->str;
}

Status RedisCluster::WaitForReplication(size_t master, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    // A master's ROLE: ["master", offset, [[host, port, acknowledged offset], ...]].
    auto role = Command(master, {"ROLE"});
    if (!role.ok()) return role.status();
    if (!role->is_array() || role->elements.size() < 3 || role->elements[0].str != "master") {
      return Status::InvalidField("node " + std::to_string(master) + " is not a master");
    }
    const long long offset = role->elements[1].integer;
    bool caught_up = true;
    for (const RedisValue& r : role->elements[2].elements) {
      if (r.elements.size() < 3 || std::stoll(r.elements[2].str) < offset) caught_up = false;
    }
    if (caught_up && role->elements[2].elements.size() == ReplicasOf(master).size()) {
      return Status::Ok();
    }
    if (Clock::now() >= deadline) {
      return Status::Unavailable("replicas of node " + std::to_string(master) +
                                 " not caught up within " + std::to_string(timeout.count()) +
                                 " ms");
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
}

Status RedisCluster::BeginSlotMigration(uint16_t slot, size_t target) {
  auto source = MasterOfSlot(slot);
  if (!source.ok()) return source.status();
  if (*source == target) return Status::InvalidField("the slot is already on the target");
  auto source_id = NodeId(*source);
  if (!source_id.ok()) return source_id.status();
  auto target_id = NodeId(target);
  if (!target_id.ok()) return target_id.status();
  const std::string s = std::to_string(slot);
  // Importing first, so that a client sent ASK by the source is accepted by the target.
  if (Status st = CommandOk(target, {"CLUSTER", "SETSLOT", s, "IMPORTING", *source_id}); !st.ok()) {
    return st;
  }
  return CommandOk(*source, {"CLUSTER", "SETSLOT", s, "MIGRATING", *target_id});
}

Status RedisCluster::MigrateKeys(uint16_t slot, size_t target,
                                 const std::vector<std::string>& keys) {
  if (keys.empty()) return Status::Ok();
  auto source = MasterOfSlot(slot);
  if (!source.ok()) return source.status();
  std::vector<std::string> cmd = {"MIGRATE", kHost, std::to_string(port(target)), "", "0",
                                  "5000",    "KEYS"};
  cmd.insert(cmd.end(), keys.begin(), keys.end());
  return CommandOk(*source, cmd);
}

Status RedisCluster::FinishSlotMigration(uint16_t slot, size_t target) {
  auto source = MasterOfSlot(slot);
  if (!source.ok()) return source.status();
  const std::string s = std::to_string(slot);
  for (int round = 0; round < 10000; ++round) {
    auto keys = Command(*source, {"CLUSTER", "GETKEYSINSLOT", s, "100"});
    if (!keys.ok()) return keys.status();
    if (!keys->is_array()) return Status::Internal("CLUSTER GETKEYSINSLOT: " + keys->str);
    if (keys->elements.empty()) break;
    std::vector<std::string> names;
    for (const RedisValue& k : keys->elements) names.push_back(k.str);
    if (Status st = MigrateKeys(slot, target, names); !st.ok()) return st;
  }
  auto target_id = NodeId(target);
  if (!target_id.ok()) return target_id.status();
  // The target first (it then owns the slot), the source next, then every other master.
  std::vector<size_t> order = {target, *source};
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (i != target && i != *source && RoleOf(i) == Role::kMaster) order.push_back(i);
  }
  for (size_t node : order) {
    if (Status st = CommandOk(node, {"CLUSTER", "SETSLOT", s, "NODE", *target_id}); !st.ok()) {
      return st;
    }
  }
  return Status::Ok();
}

Status RedisCluster::MigrateSlot(uint16_t slot, size_t target) {
  if (Status s = BeginSlotMigration(slot, target); !s.ok()) return s;
  return FinishSlotMigration(slot, target);
}

}  // namespace courier::testing
