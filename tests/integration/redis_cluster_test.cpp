// The Redis access layer on a real Redis Cluster (issue #6): 3 masters with a replica each, on
// loopback. RedisConnection and RedisPool in cluster mode route commands, pipelines and scripts
// to the master of each key, refuse work across slots, follow MOVED after a resharding and ASK
// during one, and ride out a master's death (Unavailable until its replica is promoted, then
// success on the same connection) and a manual failover (transparent).
#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "common/jwt.h"
#include "common/keys.h"
#include "common/redis_client.h"
#include "common/redis_cluster_connection.h"
#include "common/redis_cluster_slots.h"
#include "tests/support/mqtt_device.h"
#include "tests/support/redis_cluster.h"
#include "tests/support/test_stack.h"

namespace courier::testing {
namespace {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

std::unique_ptr<RedisConnection> ConnectOrDie(const RedisConfig& config) {
  auto conn = RedisConnection::Connect(config);
  REQUIRE_MESSAGE(conn.ok(), conn.status().ToString());
  REQUIRE((*conn)->cluster() != nullptr);
  return std::move(*conn);
}

RedisValue OkOrDie(Result<RedisValue> r) {
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  REQUIRE_MESSAGE(r->type != RedisValue::Type::kError, r->str);
  return std::move(*r);
}

// One key ("<prefix><n>") on each of the cluster's masters, in node order of their masters.
struct KeyPerMaster {
  std::vector<std::string> keys;
  std::vector<size_t> masters;
};

KeyPerMaster OneKeyPerMaster(RedisCluster& cluster, const std::string& prefix) {
  KeyPerMaster out;
  for (int n = 0; out.keys.size() < 3 && n < 1000; ++n) {
    std::string key = prefix + std::to_string(n);
    auto master = cluster.MasterOfKey(key);
    REQUIRE_MESSAGE(master.ok(), master.status().ToString());
    if (std::find(out.masters.begin(), out.masters.end(), *master) == out.masters.end()) {
      out.keys.push_back(key);
      out.masters.push_back(*master);
    }
  }
  REQUIRE(out.keys.size() == 3);
  return out;
}

// What a node itself holds under `key` (GET sent to it directly, not routed).
std::string ValueOnNode(RedisCluster& cluster, size_t node, const std::string& key) {
  auto r = cluster.Command(node, {"GET", key});
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return r->type == RedisValue::Type::kError ? "(error) " + r->str : r->str;
}

long long KeysInSlot(RedisCluster& cluster, size_t node, uint16_t slot) {
  auto r = cluster.Command(node, {"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)});
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return r->integer;
}

double SecondsSince(Steady::time_point start) {
  return std::chrono::duration<double>(Steady::now() - start).count();
}

// A device token for `user`'s session `sid` on device `device`, as the uplink signs it.
std::string DeviceToken(const TestStack& stack, const std::string& user, const std::string& device,
                        const std::string& sid) {
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  TokenClaims claims;
  claims.user_id = user;
  claims.device_id = device;
  claims.session_id = sid;
  claims.platform = "ios";
  claims.issued_at = now;
  claims.expires_at = now + 3600;
  return JwtCodec({stack.jwt_secret()}).Sign(claims);
}

}  // namespace

TEST_SUITE_BEGIN("redis_cluster");

// One cluster for the steps below (creating one takes seconds); each step uses its own keys.
// The steps run in order: SUBCASEs would create the cluster again for each.
TEST_CASE("cluster: commands, pipelines, scripts, the pool, MOVED and ASK") {
  const auto created = Steady::now();
  RedisCluster cluster;
  std::printf("redis_cluster: 3 masters + 3 replicas up in %.1f s\n", SecondsSince(created));
  auto conn = ConnectOrDie(cluster.redis_config());
  const KeyPerMaster k = OneKeyPerMaster(cluster, "key-");

  {
    INFO("step: single commands: written on the owning master only, read back routed");
    for (size_t i = 0; i < 3; ++i) {
      OkOrDie(conn->Command({"SET", k.keys[i], "v" + std::to_string(i)}));
      CHECK(*conn->cluster()->NodeForKey(k.keys[i]) == cluster.address(k.masters[i]));
      CHECK(ValueOnNode(cluster, k.masters[i], k.keys[i]) == "v" + std::to_string(i));
      // Another master doesn't hold it: it redirects.
      const size_t other = k.masters[(i + 1) % 3];
      CHECK(ValueOnNode(cluster, other, k.keys[i]).rfind("(error) MOVED", 0) == 0);
      CHECK(OkOrDie(conn->Command({"GET", k.keys[i]})).str == "v" + std::to_string(i));
    }
    CHECK(OkOrDie(conn->Command({"PING"})).str == "PONG");
    CHECK(OkOrDie(conn->Command({"DEL", k.keys[0]})).integer == 1);
    CHECK(OkOrDie(conn->Command({"GET", k.keys[0]})).is_nil());
    // An ordinary error reply is still the caller's to read.
    OkOrDie(conn->Command({"SET", k.keys[1], "text"}));
    auto wrong = conn->Command({"HGET", k.keys[1], "f"});
    REQUIRE(wrong.ok());
    CHECK(wrong->type == RedisValue::Type::kError);
    CHECK(wrong->str.rfind("WRONGTYPE", 0) == 0);
  }

  {
    INFO("step: a pipeline over all three masters: one batch each, replies in order");
    std::vector<std::vector<std::string>> cmds;
    for (int round = 0; round < 3; ++round) {
      for (size_t i = 0; i < 3; ++i) {
        cmds.push_back({"HSET", "{" + k.keys[i] + "}:h", "f" + std::to_string(round),
                        std::to_string(round * 10 + static_cast<int>(i))});
      }
    }
    cmds.push_back({"PING"});
    for (size_t i = 0; i < 3; ++i) cmds.push_back({"HGET", "{" + k.keys[i] + "}:h", "f2"});
    cmds.push_back({"XADD", "{" + k.keys[2] + "}:s", "*", "a", "1"});
    cmds.push_back({"XLEN", "{" + k.keys[2] + "}:s"});
    auto replies = conn->Pipeline(cmds);
    REQUIRE_MESSAGE(replies.ok(), replies.status().ToString());
    REQUIRE(replies->size() == cmds.size());
    for (size_t j = 0; j < 9; ++j) CHECK((*replies)[j].integer == 1);
    CHECK((*replies)[9].str == "PONG");
    CHECK((*replies)[10].str == "20");
    CHECK((*replies)[11].str == "21");
    CHECK((*replies)[12].str == "22");
    CHECK((*replies)[13].is_string());
    CHECK((*replies)[14].integer == 1);
    for (size_t i = 0; i < 3; ++i) {
      auto h = cluster.Command(k.masters[i], {"HLEN", "{" + k.keys[i] + "}:h"});
      REQUIRE(h.ok());
      CHECK(h->integer == 3);
    }
  }

  {
    INFO("step: scripts: EVALSHA on the key's master, loaded there on NOSCRIPT");
    RedisScript create_user("create_user");
    const std::vector<std::string> keys = {keys::User("alice"), keys::InboxMeta("alice")};
    const std::vector<std::string> args = {"hash", "Alice", "1", "epoch-1"};
    auto first = conn->Eval(create_user, keys, args);  // NOSCRIPT, then EVAL
    REQUIRE_MESSAGE(first.ok(), first.status().ToString());
    CHECK(first->elements.at(0).str == "ok");
    auto again = conn->Eval(create_user, keys, args);  // EVALSHA
    REQUIRE_MESSAGE(again.ok(), again.status().ToString());
    CHECK(again->elements.at(0).str == "conflict");
    auto owner = cluster.MasterOfKey(keys::User("alice"));
    REQUIRE(owner.ok());
    auto name = cluster.Command(*owner, {"HGET", keys::User("alice"), "display_name"});
    REQUIRE(name.ok());
    CHECK(name->str == "Alice");
    // Loaded on the owner only, until SCRIPT LOAD, which reaches every master.
    auto exists = cluster.Command(*owner, {"SCRIPT", "EXISTS", create_user.sha1()});
    REQUIRE(exists.ok());
    CHECK(exists->elements.at(0).integer == 1);
    OkOrDie(conn->Command({"SCRIPT", "LOAD", create_user.source()}));
    for (size_t m : k.masters) {
      auto e = cluster.Command(m, {"SCRIPT", "EXISTS", create_user.sha1()});
      REQUIRE(e.ok());
      CHECK(e->elements.at(0).integer == 1);
    }
  }

  {
    INFO("step: work across slots is refused before it is sent, naming it");
    auto mget = conn->Command({"MGET", k.keys[0], k.keys[1]});
    REQUIRE(!mget.ok());
    CHECK(mget.status().code() == Status::Code::kInternal);
    CHECK(mget.status().message().find("MGET across slots") != std::string::npos);
    // A pipeline with one bad command sends nothing.
    auto mixed = conn->Pipeline({{"SET", k.keys[0], "sent?"}, {"DEL", k.keys[1], k.keys[2]}});
    REQUIRE(!mixed.ok());
    CHECK(mixed.status().message().find("DEL across slots") != std::string::npos);
    CHECK(ValueOnNode(cluster, k.masters[0], k.keys[0]) != "sent?");
    // A script over two users' keys.
    RedisScript block("block");
    auto cross =
        conn->Eval(block, {keys::Session("alice", "s"), keys::Blocks("alice"), keys::User("bob")},
                   {"add", "bob"});
    REQUIRE(!cross.ok());
    CHECK(cross.status().code() == Status::Code::kInternal);
    CHECK(cross.status().message().find("redis script block") != std::string::npos);
    CHECK(cross.status().message().find("EVALSHA across slots") != std::string::npos);
    // Unknown and connection-wide commands too.
    auto keys_cmd = conn->Command({"KEYS", "*"});
    REQUIRE(!keys_cmd.ok());
    CHECK(keys_cmd.status().message().find("KEYS can't run on a Redis Cluster") !=
          std::string::npos);
    // The connection is fine afterwards.
    CHECK(!conn->broken());
    OkOrDie(conn->Command({"SET", k.keys[0], "after"}));
  }

  {
    INFO("step: RedisPool in cluster mode, from several threads");
    RedisPool pool(cluster.redis_config(), 4);
    std::vector<std::future<bool>> workers;
    for (int t = 0; t < 4; ++t) {
      workers.push_back(std::async(std::launch::async, [&pool, &k, t] {
        for (int n = 0; n < 50; ++n) {
          const std::string key = "{" + k.keys[static_cast<size_t>(n % 3)] +
                                  "}:pool:" + std::to_string(t) + ":" + std::to_string(n);
          auto set = pool.Command({"SET", key, std::to_string(n)});
          if (!set.ok() || set->type == RedisValue::Type::kError) return false;
          auto get = pool.Pipeline({{"GET", key}, {"INCR", "{" + k.keys[0] + "}:pool:count"}});
          if (!get.ok() || (*get)[0].str != std::to_string(n)) return false;
        }
        return true;
      }));
    }
    for (auto& w : workers) CHECK(w.get());
    CHECK(OkOrDie(pool.Command({"GET", "{" + k.keys[0] + "}:pool:count"})).str == "200");
    auto on_owner = cluster.Command(k.masters[2], {"GET", "{" + k.keys[2] + "}:pool:1:2"});
    REQUIRE(on_owner.ok());
    CHECK(on_owner->str == "2");
  }

  {
    INFO("step: bad seed lists and unreachable seeds");
    RedisConfig bad = cluster.redis_config();
    bad.cluster = "127.0.0.1:notaport";
    auto malformed = RedisConnection::Connect(bad);
    REQUIRE(!malformed.ok());
    CHECK(malformed.status().code() == Status::Code::kInvalidField);
    bad.cluster = "127.0.0.1:1";  // nothing listens on port 1
    auto unreachable = RedisConnection::Connect(bad);
    REQUIRE(!unreachable.ok());
    CHECK(unreachable.status().code() == Status::Code::kUnavailable);
    // A dead seed first: the next one answers.
    bad.cluster = "127.0.0.1:1," + cluster.seeds();
    CHECK(RedisConnection::Connect(bad).ok());
  }

  RedisPool pool(cluster.redis_config(), 2);

  {
    INFO("step: MOVED: the map is corrected and the command retried on the new master");
    const KeyPerMaster k = OneKeyPerMaster(cluster, "moved-");
    for (size_t i = 0; i < 3; ++i) OkOrDie(conn->Command({"SET", k.keys[i], "v" + k.keys[i]}));
    OkOrDie(pool.Command({"SET", k.keys[0], "v" + k.keys[0]}));  // the pool's map is read too
    const uint16_t slot = KeySlot(k.keys[0]);
    const size_t from = k.masters[0], to = k.masters[1];
    REQUIRE(cluster.MigrateSlot(slot, to).ok());
    CHECK(ValueOnNode(cluster, to, k.keys[0]) == "v" + k.keys[0]);
    CHECK(KeysInSlot(cluster, from, slot) == 0);
    // The connection still routes the slot to the old master, which answers MOVED.
    CHECK(*conn->cluster()->NodeForKey(k.keys[0]) == cluster.address(from));
    CHECK(OkOrDie(conn->Command({"GET", k.keys[0]})).str == "v" + k.keys[0]);
    CHECK(*conn->cluster()->NodeForKey(k.keys[0]) == cluster.address(to));
    // A pipeline across all masters after the move; writes land on the new owner.
    auto replies =
        conn->Pipeline({{"SET", k.keys[0], "new"}, {"GET", k.keys[1]}, {"GET", k.keys[2]}});
    REQUIRE_MESSAGE(replies.ok(), replies.status().ToString());
    CHECK((*replies)[1].str == "v" + k.keys[1]);
    CHECK((*replies)[2].str == "v" + k.keys[2]);
    CHECK(ValueOnNode(cluster, to, k.keys[0]) == "new");
    CHECK(OkOrDie(pool.Command({"GET", k.keys[0]})).str == "new");
  }

  {
    INFO("step: ASK: keys already moved are served by the target, the map stays");
    // Three keys of one slot (a hash tag) on one master; one of them moved ahead of the rest.
    const std::string tag = OneKeyPerMaster(cluster, "ask-").keys[0];
    const std::string moved = "{" + tag + "}:a", stays = "{" + tag + "}:b",
                      fresh = "{" + tag + "}:c";
    const uint16_t slot = KeySlot(tag);
    auto from = cluster.MasterOfSlot(slot);
    REQUIRE(from.ok());
    OkOrDie(conn->Command({"SET", moved, "1"}));
    OkOrDie(conn->Command({"SET", stays, "2"}));
    size_t to = *from;
    for (size_t n = 0; n < cluster.size() && to == *from; ++n) {
      if (n != *from && cluster.RoleOf(n) == RedisCluster::Role::kMaster) to = n;
    }
    REQUIRE(to != *from);
    REQUIRE(cluster.BeginSlotMigration(slot, to).ok());
    REQUIRE(cluster.MigrateKeys(slot, to, {moved}).ok());
    CHECK(KeysInSlot(cluster, *from, slot) == 1);
    CHECK(KeysInSlot(cluster, to, slot) == 1);

    CHECK(OkOrDie(conn->Command({"GET", moved})).str == "1");  // ASK, then ASKING + GET on `to`
    CHECK(OkOrDie(conn->Command({"GET", stays})).str == "2");  // still on the source
    OkOrDie(conn->Command({"SET", fresh, "3"}));               // a new key goes to the target
    CHECK(KeysInSlot(cluster, to, slot) == 2);
    CHECK(KeysInSlot(cluster, *from, slot) == 1);
    CHECK(*conn->cluster()->NodeForKey(moved) == cluster.address(*from));  // map unchanged
    auto pipelined = conn->Pipeline({{"GET", stays}, {"GET", moved}, {"GET", fresh}});
    REQUIRE_MESSAGE(pipelined.ok(), pipelined.status().ToString());
    CHECK((*pipelined)[0].str == "2");
    CHECK((*pipelined)[1].str == "1");
    CHECK((*pipelined)[2].str == "3");

    REQUIRE(cluster.FinishSlotMigration(slot, to).ok());
    CHECK(OkOrDie(conn->Command({"GET", stays})).str == "2");  // MOVED now
    CHECK(*conn->cluster()->NodeForKey(stays) == cluster.address(to));
    CHECK(KeysInSlot(cluster, to, slot) == 3);
  }
}

TEST_CASE("cluster: a master's death and a manual failover, on the same connection and pool") {
  RedisCluster cluster;
  auto conn = ConnectOrDie(cluster.redis_config());
  RedisPool pool(cluster.redis_config(), 2);
  const KeyPerMaster k = OneKeyPerMaster(cluster, "fail-");
  for (size_t i = 0; i < 3; ++i)
    OkOrDie(conn->Command({"SET", k.keys[i], "v" + std::to_string(i)}));
  OkOrDie(pool.Command({"GET", k.keys[0]}));  // the pool holds a connection that knows the map
  for (size_t m : k.masters) REQUIRE(cluster.WaitForReplication(m).ok());

  // ----- SIGKILL the master of keys[0].
  const size_t dead = k.masters[0];
  const std::vector<size_t> replicas = cluster.ReplicasOf(dead);
  REQUIRE(replicas.size() == 1);
  const auto killed = Steady::now();
  cluster.Kill(dead);

  auto first = conn->Command({"GET", k.keys[0]});
  REQUIRE(!first.ok());
  CHECK(first.status().code() == Status::Code::kUnavailable);
  CHECK(!conn->broken());  // one node down doesn't break the cluster connection
  // The other masters' keys are served meanwhile.
  CHECK(OkOrDie(conn->Command({"GET", k.keys[1]})).str == "v1");
  CHECK(OkOrDie(pool.Command({"GET", k.keys[2]})).str == "v2");

  // Unavailable (fast) until the replica is promoted, then the value it replicated.
  int unavailable = 0;
  std::optional<RedisValue> value;
  while (SecondsSince(killed) < 30) {
    auto r = conn->Command({"GET", k.keys[0]});
    if (r.ok()) {
      value = *r;
      break;
    }
    CHECK(r.status().code() == Status::Code::kUnavailable);
    ++unavailable;
    std::this_thread::sleep_for(50ms);
  }
  const double failover_s = SecondsSince(killed);
  std::printf("redis_cluster: master killed; %d Unavailable answers, served again after %.1f s\n",
              unavailable, failover_s);
  REQUIRE(value.has_value());
  CHECK(value->str == "v0");
  CHECK(*conn->cluster()->NodeForKey(k.keys[0]) == cluster.address(replicas[0]));
  CHECK(cluster.RoleOf(replicas[0]) == RedisCluster::Role::kMaster);
  OkOrDie(conn->Command({"SET", k.keys[0], "after-failover"}));
  CHECK(ValueOnNode(cluster, replicas[0], k.keys[0]) == "after-failover");
  // The pool's connection learns it too, without a new pool (a first Unavailable is allowed:
  // that connection still had the dead master's socket).
  Result<RedisValue> pooled = Status::Unavailable("not tried");
  for (int attempt = 0; attempt < 40 && !pooled.ok(); ++attempt) {
    pooled = pool.Command({"GET", k.keys[0]});
    if (!pooled.ok()) std::this_thread::sleep_for(100ms);
  }
  REQUIRE_MESSAGE(pooled.ok(), pooled.status().ToString());
  CHECK(pooled->str == "after-failover");
  REQUIRE(cluster.WaitForStable().ok());

  // ----- A manual CLUSTER FAILOVER of keys[1]'s master: no error at all.
  const size_t old_master = k.masters[1];
  const std::vector<size_t> standby = cluster.ReplicasOf(old_master);
  REQUIRE(standby.size() == 1);
  REQUIRE(cluster.WaitForReplication(old_master).ok());
  REQUIRE(cluster.ManualFailover(standby[0]).ok());
  CHECK(cluster.RoleOf(old_master) == RedisCluster::Role::kReplica);
  CHECK(OkOrDie(conn->Command({"GET", k.keys[1]})).str == "v1");  // MOVED from the old master
  CHECK(*conn->cluster()->NodeForKey(k.keys[1]) == cluster.address(standby[0]));
  auto replies = conn->Pipeline({{"SET", k.keys[1], "x"}, {"GET", k.keys[0]}, {"GET", k.keys[2]}});
  REQUIRE_MESSAGE(replies.ok(), replies.status().ToString());
  CHECK((*replies)[1].str == "after-failover");
  CHECK((*replies)[2].str == "v2");
  CHECK(ValueOnNode(cluster, standby[0], k.keys[1]) == "x");
  CHECK(OkOrDie(pool.Command({"GET", k.keys[1]})).str == "x");

  // ----- The killed master comes back: a replica of its successor.
  REQUIRE(cluster.Start(dead).ok());
  REQUIRE(cluster.WaitForStable().ok());
  CHECK(cluster.RoleOf(dead) == RedisCluster::Role::kReplica);
  CHECK(OkOrDie(conn->Command({"GET", k.keys[0]})).str == "after-failover");
}

// A pool of 16 (the uplink's workers) serving 48 commands, 3 per thread: each thread's commands,
// timed from the start as requests queued behind busy workers would be.
struct Outcomes {
  int ok = 0, unavailable = 0, other = 0;
  int64_t slowest_thread_ms = 0;  // the last command's end, from the start
  int64_t slowest_ok_ms = 0;      // the slowest single command that succeeded
  std::string errors;             // one failure per key, for the messages
};
Outcomes Burst(RedisPool& pool, const std::vector<std::string>& keys_by_thread) {
  struct PerThread {
    int ok = 0, unavailable = 0, other = 0;
    int64_t end_ms = 0, slowest_ok_ms = 0;
    std::string error;
  };
  std::vector<PerThread> per(keys_by_thread.size());
  const auto start = Steady::now();
  std::vector<std::thread> threads;
  for (size_t t = 0; t < keys_by_thread.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 3; ++i) {
        const auto before = Steady::now();
        Result<RedisValue> r = pool.Command({"GET", keys_by_thread[t]});
        const int64_t took =
            std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - before).count();
        if (r.ok()) {
          ++per[t].ok;
          per[t].slowest_ok_ms = std::max(per[t].slowest_ok_ms, took);
        } else {
          ++(r.status().code() == Status::Code::kUnavailable ? per[t].unavailable : per[t].other);
          if (per[t].error.empty()) {
            per[t].error = std::to_string(took) + " ms: " + r.status().ToString();
          }
        }
      }
      per[t].end_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - start).count();
    });
  }
  for (std::thread& t : threads) t.join();
  Outcomes out;
  for (const PerThread& p : per) {
    out.ok += p.ok;
    out.unavailable += p.unavailable;
    out.other += p.other;
    out.slowest_thread_ms = std::max(out.slowest_thread_ms, p.end_ms);
    out.slowest_ok_ms = std::max(out.slowest_ok_ms, p.slowest_ok_ms);
    if (!p.error.empty() &&
        out.errors.find(p.error.substr(p.error.find(':'))) == std::string::npos) {
      out.errors += p.error + "\n";
    }
  }
  return out;
}

// Every key answered by the pool again, within `timeout`.
bool ServedAgain(RedisPool& pool, const std::vector<std::string>& keys,
                 std::chrono::seconds timeout) {
  const auto deadline = Steady::now() + timeout;
  while (Steady::now() < deadline) {
    bool all = true;
    for (const std::string& k : keys) all = pool.Command({"GET", k}).ok() && all;
    if (all) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

TEST_CASE(
    "cluster: a frozen cluster costs a pool one command timeout, not one per connection; a "
    "frozen master costs only its own keys") {
  // What a single Redis gets from RedisPool's breaker (redis_fault_test, "a frozen Redis"): once
  // one pooled connection has timed out, the others fail fast. On a cluster the connections
  // share what they learn of each node (ClusterNodeHealth).
  RedisCluster cluster;
  const RedisConfig config = cluster.redis_config();  // connect 500 ms, command 2 s
  RedisPool pool(config, 16);
  const KeyPerMaster k = OneKeyPerMaster(cluster, "freeze-");
  for (size_t i = 0; i < 3; ++i) OkOrDie(pool.Command({"SET", k.keys[i], "v"}));
  std::vector<std::string> keys_by_thread;
  for (size_t t = 0; t < 16; ++t) keys_by_thread.push_back(k.keys[t % 3]);
  // Every pooled connection open, with the slot map and a socket to each master.
  Outcomes warm = Burst(pool, keys_by_thread);
  REQUIRE(warm.ok == 48);

  struct ThawAll {
    RedisCluster& c;
    ~ThawAll() {
      for (size_t i = 0; i < c.size(); ++i) c.process(i).Signal(SIGCONT);
    }
  } thaw{cluster};

  // ----- Every node frozen: the sockets stay open, nothing answers.
  for (size_t i = 0; i < cluster.size(); ++i) REQUIRE(cluster.process(i).Signal(SIGSTOP));
  Outcomes frozen = Burst(pool, keys_by_thread);
  std::printf(
      "redis_cluster: frozen cluster: %d Unavailable of 48, the last thread done after %lld ms\n",
      frozen.unavailable, static_cast<long long>(frozen.slowest_thread_ms));
  CHECK_MESSAGE(frozen.unavailable == 48, frozen.errors);
  // One command timeout (2 s) and one bounded re-read of the map (2 s) at most: far below the
  // 3 × 2 s a thread would wait if every command found out for itself.
  CHECK_MESSAGE(frozen.slowest_thread_ms < 5000, frozen.errors);
  for (size_t i = 0; i < cluster.size(); ++i) REQUIRE(cluster.process(i).Signal(SIGCONT));
  REQUIRE(cluster.WaitForStable().ok());
  CHECK(ServedAgain(pool, k.keys, 15s));

  // ----- One master frozen: its keys fail (and may come back once its replica is promoted);
  // the other masters' keys are answered throughout, none of them after waiting out a timeout.
  const size_t frozen_master = *cluster.MasterOfKey(k.keys[0]);
  REQUIRE(cluster.process(frozen_master).Signal(SIGSTOP));
  Outcomes one = Burst(pool, keys_by_thread);
  std::printf("redis_cluster: one master frozen: %d ok, %d Unavailable; slowest ok %lld ms\n",
              one.ok, one.unavailable, static_cast<long long>(one.slowest_ok_ms));
  CHECK(one.other == 0);
  CHECK_MESSAGE(one.ok >= 30, one.errors);  // 10 threads on keys[1] and keys[2]: 30 commands
  CHECK(one.slowest_ok_ms < 2000);
  CHECK(one.slowest_thread_ms < 5000);
  REQUIRE(cluster.process(frozen_master).Signal(SIGCONT));
  REQUIRE(cluster.WaitForStable().ok());
  CHECK(ServedAgain(pool, k.keys, 15s));
}

TEST_CASE("cluster: the broker plugin checks sessions and marks presence on the cluster") {
  RedisCluster cluster;
  auto conn = ConnectOrDie(cluster.redis_config());
  // Only the broker: its plugin talks to the cluster (the stack's own Redis stays unused).
  TestStackOptions options;
  options.topology = Topology::kSingle;  // its own topology (not the environment's)
  options.start_uplink = false;
  options.start_downlink = false;
  options.broker_config = {"plugin_opt_redis_cluster " + cluster.seeds(),
                           "plugin_opt_redis_timeout_ms 300"};
  TestStack stack(options);

  // Sessions of two users whose keys live on different masters.
  const KeyPerMaster k = OneKeyPerMaster(cluster, "user");
  const std::string alice = k.keys[0], bob = k.keys[1];
  for (const std::string& user : {alice, bob}) {
    OkOrDie(conn->Command({"HSET", keys::Session(user, "s1"), "device", "phone"}));
  }
  OkOrDie(conn->Command({"SADD", keys::RoomMembers("lobby"), alice}));

  MqttDevice a(stack.mqtt_port()), b(stack.mqtt_port()), ghost(stack.mqtt_port());
  REQUIRE_MESSAGE(a.Connect(alice + ":phone", alice, DeviceToken(stack, alice, "phone", "s1")),
                  a.last_error() << "\n"
                                 << stack.LogTail(Component::kBroker));
  REQUIRE_MESSAGE(b.Connect(bob + ":phone", bob, DeviceToken(stack, bob, "phone", "s1")),
                  b.last_error() << "\n"
                                 << stack.LogTail(Component::kBroker));
  CHECK(!ghost.Connect(alice + ":tablet", alice, DeviceToken(stack, alice, "tablet", "ended")));

  // The online marks are on each user's own master; the presence tasks on their shards'.
  for (const std::string& user : {alice, bob}) {
    auto owner = cluster.MasterOfKey(keys::Online(user));
    REQUIRE(owner.ok());
    auto mark = cluster.Command(*owner, {"HEXISTS", keys::Online(user), "phone"});
    REQUIRE(mark.ok());
    CHECK(mark->integer == 1);
    const std::string tasks = keys::FanoutStream(keys::DeliveryShard(user, 4));
    auto len = OkOrDie(conn->Command({"XLEN", tasks}));
    CHECK(len.integer >= 1);
  }
  // Room membership is read on the room's master.
  CHECK(a.Subscribe({"courier/r/lobby"}) == std::vector<int>{1});
  CHECK(b.Subscribe({"courier/r/lobby"}, 1, 5000ms) != std::vector<int>{1});

  // The master of alice's keys dies: her devices are refused until its replica takes over, then
  // let in again, by the same broker and plugin.
  const size_t dead = *cluster.MasterOfKey(keys::Session(alice, "s1"));
  REQUIRE(cluster.WaitForReplication(dead).ok());
  cluster.Kill(dead);
  const auto killed = Steady::now();
  MqttDevice again(stack.mqtt_port());
  bool accepted = false;
  int refused = 0;
  while (!accepted && SecondsSince(killed) < 30) {
    accepted = again.Connect(alice + ":phone", alice, DeviceToken(stack, alice, "phone", "s1"),
                             std::chrono::seconds(30), 3000ms);
    if (!accepted) {
      ++refused;
      std::this_thread::sleep_for(200ms);
    }
  }
  std::printf("redis_cluster: broker plugin refused %d CONNECTs, accepted after %.1f s\n", refused,
              SecondsSince(killed));
  CHECK(accepted);
  CHECK(refused >= 1);
  // Bob's master never went away: his devices were never refused.
  MqttDevice bob_laptop(stack.mqtt_port());
  OkOrDie(conn->Command({"HSET", keys::Session(bob, "s2"), "device", "laptop"}));
  CHECK(bob_laptop.Connect(bob + ":laptop", bob, DeviceToken(stack, bob, "laptop", "s2")));
}

// --redis-replica-acks: every batch a master gets ends with WAIT, so what a call acknowledged is
// on the replica when the call returns — a master killed right after the last reply, with no
// wait for replication in between, loses none of it.
TEST_CASE("cluster: with replica acks, writes acknowledged before a master's death survive") {
  RedisCluster cluster;
  RedisConfig config = cluster.redis_config();
  config.replica_acks = 1;
  config.replica_ack_timeout_ms = 1000;
  auto conn = ConnectOrDie(config);
  const KeyPerMaster k = OneKeyPerMaster(cluster, "acked-");
  const size_t victim = k.masters[0];
  const std::vector<size_t> replicas = cluster.ReplicasOf(victim);
  REQUIRE(replicas.size() == 1);

  // Keys of the victim's slot (same hash tag as keys[0]) and of the others, pipelined and one by
  // one, scripts included.
  const std::string tag = "{" + k.keys[0] + "}";
  std::vector<std::vector<std::string>> batch;
  for (int i = 0; i < 200; ++i) batch.push_back({"SET", tag + ":p" + std::to_string(i), "v"});
  for (size_t m = 1; m < 3; ++m) batch.push_back({"SET", k.keys[m], "other"});
  auto replies = conn->Pipeline(batch);
  REQUIRE_MESSAGE(replies.ok(), replies.status().ToString());
  for (int i = 0; i < 50; ++i) OkOrDie(conn->Command({"INCR", tag + ":counter"}));
  OkOrDie(conn->Command(
      {"EVAL", "return redis.call('SET', KEYS[1], ARGV[1])", "1", tag + ":script", "last"}));

  // WAIT was sent to every master that got writes.
  for (size_t m : k.masters) {
    auto stats = cluster.Command(m, {"INFO", "commandstats"});
    REQUIRE(stats.ok());
    CHECK_MESSAGE(stats->str.find("cmdstat_wait:calls=") != std::string::npos, stats->str);
  }

  cluster.Kill(victim);  // at once: no WaitForReplication
  REQUIRE(cluster.WaitForStable().ok());
  REQUIRE(cluster.RoleOf(replicas[0]) == RedisCluster::Role::kMaster);
  int present = 0;
  for (int i = 0; i < 200; ++i)
    present += ValueOnNode(cluster, replicas[0], tag + ":p" + std::to_string(i)) == "v";
  CHECK(present == 200);
  CHECK(ValueOnNode(cluster, replicas[0], tag + ":counter") == "50");
  CHECK(ValueOnNode(cluster, replicas[0], tag + ":script") == "last");

  // A master without a live replica (its replica frozen): the write waits out the timeout, then
  // stands (a warning is logged), rather than failing.
  config.replica_ack_timeout_ms = 200;
  auto short_wait = ConnectOrDie(config);
  const size_t other = k.masters[1];
  const std::vector<size_t> other_replicas = cluster.ReplicasOf(other);
  REQUIRE(other_replicas.size() == 1);
  REQUIRE(::kill(cluster.pid(other_replicas[0]), SIGSTOP) == 0);  // our process, by PID
  auto r = short_wait->Command({"SET", k.keys[1], "while-frozen"});
  REQUIRE(::kill(cluster.pid(other_replicas[0]), SIGCONT) == 0);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  CHECK(ValueOnNode(cluster, other, k.keys[1]) == "while-frozen");
}

TEST_SUITE_END();

}  // namespace courier::testing
