#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "common/keys.h"
#include "common/redis_cluster_routing.h"

namespace courier {

namespace {

using Args = std::vector<std::string>;

RedisValue Int(long long v) {
  RedisValue r;
  r.type = RedisValue::Type::kInteger;
  r.integer = v;
  return r;
}

RedisValue Str(std::string s) {
  RedisValue r;
  r.type = RedisValue::Type::kString;
  r.str = std::move(s);
  return r;
}

RedisValue Arr(std::vector<RedisValue> elements) {
  RedisValue r;
  r.type = RedisValue::Type::kArray;
  r.elements = std::move(elements);
  return r;
}

RedisValue Entry(long long first, long long last, int port) {
  return Arr({Int(first), Int(last), Arr({Str("127.0.0.1"), Int(port), Str("id")})});
}

// Three masters as `redis-cli --cluster create` splits the slots: 7001, 7002, 7003.
ClusterRoutingTable ThreeMasters() {
  auto map = SlotMap::FromClusterSlots(
      Arr({Entry(0, 5460, 7001), Entry(5461, 10922, 7002), Entry(10923, 16383, 7003)}));
  REQUIRE(map.ok());
  return ClusterRoutingTable(std::move(*map));
}

RedisNodeAddress Node(int port) { return RedisNodeAddress{"127.0.0.1", port}; }

// A key of the form "k<n>" whose slot lies in [first, last].
std::string KeyIn(int first, int last) {
  for (int n = 0;; ++n) {
    std::string key = "k" + std::to_string(n);
    int slot = KeySlot(key);
    if (slot >= first && slot <= last) return key;
  }
}

std::vector<std::string> Keys(const Args& args) {
  auto keys = CommandKeys(args);
  REQUIRE_MESSAGE(keys.ok(), keys.status().ToString());
  return std::vector<std::string>(keys->begin(), keys->end());
}

std::string RefusedWith(const Args& args) {
  auto route = RouteCommand(args);
  REQUIRE(!route.ok());
  CHECK(route.status().code() == Status::Code::kInternal);
  return route.status().message();
}

}  // namespace

TEST_SUITE_BEGIN("redis_cluster_routing");

TEST_CASE("routing: seed lists") {
  auto one = ParseRedisSeedList("127.0.0.1:7000");
  REQUIRE(one.ok());
  REQUIRE(one->size() == 1);
  CHECK((*one)[0] == RedisNodeAddress{"127.0.0.1", 7000});

  auto many = ParseRedisSeedList(" redis-a:7000 ,10.0.0.2:7001,[::1]:7002");
  REQUIRE(many.ok());
  REQUIRE(many->size() == 3);
  CHECK((*many)[0] == RedisNodeAddress{"redis-a", 7000});
  CHECK((*many)[1] == RedisNodeAddress{"10.0.0.2", 7001});
  CHECK((*many)[2] == RedisNodeAddress{"::1", 7002});
  CHECK((*many)[2].ToString() == "[::1]:7002");
  CHECK((*many)[0].ToString() == "redis-a:7000");

  for (const char* bad : {"", " ", "a:1,", ",a:1", "a:1,,b:2", "a", "a:", ":7000", "a:0", "a:65536",
                          "a:7x", "a:-1", "::1:7000", "[]:7000", "a b:7000", "a:7000,a:7000"}) {
    CAPTURE(bad);
    auto r = ParseRedisSeedList(bad);
    REQUIRE(!r.ok());
    CHECK(r.status().code() == Status::Code::kInvalidField);
    CHECK(r.status().message().find("Redis Cluster seed") != std::string::npos);
  }
  CHECK(ParseRedisSeedList("a:7000,a:7000").status().message().find("twice") != std::string::npos);
}

TEST_CASE("routing: the key of every command Courier sends") {
  using V = std::vector<std::string>;
  // The key is args[1].
  for (const char* name :
       {"GET",      "SET",      "HSET",      "HGET",    "HMGET", "HGETALL",    "HKEYS",
        "HVALS",    "HEXISTS",  "EXPIRE",    "PEXPIRE", "PTTL",  "TYPE",       "DUMP",
        "XADD",     "XRANGE",   "XREVRANGE", "XLEN",    "XACK",  "XAUTOCLAIM", "XCLAIM",
        "XPENDING", "SMEMBERS", "SISMEMBER", "SADD",    "SREM",  "ZREVRANGE"}) {
    CAPTURE(name);
    CHECK(Keys({name, "{u:alice}:x", "a1", "a2"}) == V{"{u:alice}:x"});
  }
  CHECK(Keys({"get", "k"}) == V{"k"});  // names in any case
  CHECK(Keys({"XAUTOCLAIM", "{dq:0}:deliveries", "downlink", "me", "30000", "0-0", "COUNT",
              "10"}) == V{"{dq:0}:deliveries"});
  // Every argument is a key.
  CHECK(Keys({"DEL", "a", "b", "c"}) == V{"a", "b", "c"});
  CHECK(Keys({"EXISTS", "{u:a}:user"}) == V{"{u:a}:user"});
  CHECK(Keys({"MGET", "a", "b"}) == V{"a", "b"});
  CHECK(Keys({"MSET", "a", "1", "b", "2"}) == V{"a", "b"});
  CHECK(Keys({"RENAME", "a", "b"}) == V{"a", "b"});
  // The key after a subcommand.
  CHECK(Keys({"XGROUP", "CREATE", "{dq:1}:deliveries", "downlink", "0", "MKSTREAM"}) ==
        V{"{dq:1}:deliveries"});
  CHECK(Keys({"XINFO", "GROUPS", "{dq:1}:deliveries"}) == V{"{dq:1}:deliveries"});
  CHECK(Keys({"XGROUP", "HELP"}).empty());
  // Scripts: numkeys keys after the script.
  CHECK(Keys({"EVALSHA", "abc", "2", "{u:a}:meta", "{u:a}:inbox", "arg"}) ==
        V{"{u:a}:meta", "{u:a}:inbox"});
  CHECK(Keys({"EVAL", "return 1", "0", "arg"}).empty());
  CHECK(Keys({"EVAL", "return 1", "1", "k"}) == V{"k"});
  // Streams: the first half after STREAMS; options skipped by arity, so names can't fool it.
  CHECK(Keys({"XREADGROUP", "GROUP", "STREAMS", "STREAMS", "COUNT", "10", "BLOCK", "100", "NOACK",
              "STREAMS", "{dq:0}:deliveries", "{dq:1}:deliveries", ">", ">"}) ==
        V{"{dq:0}:deliveries", "{dq:1}:deliveries"});
  CHECK(Keys({"XREAD", "COUNT", "5", "STREAMS", "s", "0-0"}) == V{"s"});
  CHECK(Keys({"xread", "streams", "a", "b", "0", "0"}) == V{"a", "b"});
  // Keyless.
  for (const Args& keyless : {Args{"PING"}, Args{"INFO", "replication"}, Args{"CLUSTER", "SLOTS"},
                              Args{"SCRIPT", "LOAD", "return 1"}, Args{"ECHO", "x"}}) {
    CAPTURE(keyless[0]);
    CHECK(Keys(keyless).empty());
  }
}

TEST_CASE("routing: malformed and unroutable commands are refused, naming the command") {
  CHECK(RefusedWith({}).find("empty command") != std::string::npos);
  CHECK(RefusedWith({"FROBNICATE", "k"}).find("FROBNICATE is not known") != std::string::npos);
  CHECK(RefusedWith({"GET"}).find("GET without a key") != std::string::npos);
  CHECK(RefusedWith({"DEL"}).find("DEL without a key") != std::string::npos);
  CHECK(RefusedWith({"MSET", "a"}).find("MSET") != std::string::npos);
  for (const char* cmd : {"KEYS", "SCAN", "MULTI", "EXEC", "WATCH", "SELECT", "DBSIZE"}) {
    CAPTURE(cmd);
    CHECK(RefusedWith({cmd, "x"}).find(std::string(cmd) + " can't run on a Redis Cluster") !=
          std::string::npos);
  }
  for (const char* numkeys : {"3", "-1", "x", "", "1x", "99999999999999999999"}) {
    CAPTURE(numkeys);
    CHECK(RefusedWith({"EVALSHA", "abc", numkeys, "k", "a"}).find("EVALSHA has a bad numkeys") !=
          std::string::npos);
  }
  CHECK(RefusedWith({"EVAL", "s"}).find("EVAL without numkeys") != std::string::npos);
  CHECK(RefusedWith({"XREAD", "COUNT", "1"}).find("XREAD without STREAMS") != std::string::npos);
  CHECK(RefusedWith({"XREAD", "STREAMS", "a", "b", "0"}).find("as many ids") != std::string::npos);
  CHECK(RefusedWith({"XREAD", "STREAMS"}).find("as many ids") != std::string::npos);
  CHECK(RefusedWith({"XREAD", "LIMIT", "1", "STREAMS", "a", "0"}).find("unknown option") !=
        std::string::npos);
  CHECK(RefusedWith({"XREADGROUP", "STREAMS", "a", "0"}).find("without GROUP") !=
        std::string::npos);
  CHECK(RefusedWith({"XREADGROUP", "GROUP", "g", "c", "COUNT"}).find("without STREAMS") !=
        std::string::npos);
}

TEST_CASE("routing: one slot per command; keys across slots are refused before sending") {
  auto get = RouteCommand({"GET", "foo"});
  REQUIRE(get.ok());
  CHECK(get->kind == CommandRoute::Kind::kSlot);
  CHECK(get->slot == 12182);

  // One owner's keys share a slot through their hash tag: a script over them is fine.
  auto script = RouteCommand({"EVALSHA", "sha", "3", keys::InboxMeta("alice"), keys::Inbox("alice"),
                              keys::Cmid("alice", "c1"), "arg"});
  REQUIRE(script.ok());
  CHECK(script->kind == CommandRoute::Kind::kSlot);
  CHECK(script->slot == KeySlot("u:alice"));

  const std::string cross = RefusedWith({"MGET", "{a}x", "{a}y", "foo"});
  CHECK(cross.find("MGET across slots") != std::string::npos);
  CHECK(cross.find("'foo' (slot 12182)") != std::string::npos);
  CHECK(RefusedWith({"EVALSHA", "sha", "2", keys::Inbox("alice"), keys::Inbox("bob")})
            .find("EVALSHA across slots") != std::string::npos);
  // The downlink reads several delivery shards at once: one slot each, so not on a cluster.
  CHECK(RefusedWith({"XREADGROUP", "GROUP", "g", "c", "STREAMS", keys::DeliveryStream(0),
                     keys::DeliveryStream(1), ">", ">"})
            .find("XREADGROUP across slots") != std::string::npos);

  auto ping = RouteCommand({"PING"});
  REQUIRE(ping.ok());
  CHECK(ping->kind == CommandRoute::Kind::kAnyNode);
  auto load = RouteCommand({"SCRIPT", "LOAD", "return 1"});
  REQUIRE(load.ok());
  CHECK(load->kind == CommandRoute::Kind::kEveryMaster);
}

TEST_CASE("routing: what a cluster error reply asks for") {
  CHECK(ClassifyClusterError("MOVED 3999 127.0.0.1:6381") == ClusterErrorKind::kRedirect);
  CHECK(ClassifyClusterError("ASK 3999 127.0.0.1:6381") == ClusterErrorKind::kRedirect);
  CHECK(ClassifyClusterError("MOVED nonsense") == ClusterErrorKind::kNotCluster);
  for (const char* text :
       {"CLUSTERDOWN The cluster is down", "TRYAGAIN Multiple keys request",
        "MASTERDOWN Link with MASTER is down", "LOADING Redis is loading the dataset in memory",
        "READONLY You can't write against a read only replica."}) {
    CAPTURE(text);
    CHECK(ClassifyClusterError(text) == ClusterErrorKind::kUnavailable);
  }
  CHECK(ClassifyClusterError("CROSSSLOT Keys in request don't hash to the same slot") ==
        ClusterErrorKind::kCrossSlot);
  for (const char* text : {"NOSCRIPT No matching script",
                           "BUSYGROUP Consumer Group name already "
                           "exists",
                           "WRONGTYPE Operation against a key", "ERR unknown command", ""}) {
    CAPTURE(text);
    CHECK(ClassifyClusterError(text) == ClusterErrorKind::kNotCluster);
  }
}

TEST_CASE("routing: a pipeline is grouped by node, in order, keyless with the first") {
  ClusterRoutingTable table = ThreeMasters();
  const std::string a = KeyIn(0, 5460), b = KeyIn(5461, 10922), c = KeyIn(10923, 16383);
  CHECK(*table.NodeFor(KeySlot(a)) == Node(7001));
  CHECK(*table.NodeFor(KeySlot(b)) == Node(7002));
  CHECK(*table.NodeFor(KeySlot(c)) == Node(7003));

  auto plan = table.Plan({{"GET", b},             // 0 -> 7002
                          {"SET", a, "1"},        // 1 -> 7001
                          {"PING"},               // 2 -> the first batch's node, 7002
                          {"HGET", c, "f"},       // 3 -> 7003
                          {"DEL", b},             // 4 -> 7002
                          {"EXPIRE", a, "10"}});  // 5 -> 7001
  REQUIRE(plan.ok());
  REQUIRE(plan->size() == 3);
  CHECK((*plan)[0].node == Node(7002));
  CHECK((*plan)[0].commands == std::vector<size_t>{0, 2, 4});
  CHECK((*plan)[1].node == Node(7001));
  CHECK((*plan)[1].commands == std::vector<size_t>{1, 5});
  CHECK((*plan)[2].node == Node(7003));
  CHECK((*plan)[2].commands == std::vector<size_t>{3});

  // Keyless to the node the caller prefers (one it is connected to).
  auto ping = table.Plan({{"PING"}, {"INFO"}}, Node(7003));
  REQUIRE(ping.ok());
  REQUIRE(ping->size() == 1);
  CHECK((*ping)[0].node == Node(7003));
  auto alone = table.Plan({{"PING"}});
  REQUIRE(alone.ok());
  CHECK((*alone)[0].node == Node(7001));

  // SCRIPT LOAD reaches every master, where the scripts' keys live.
  auto load = table.Plan({{"GET", c}, {"SCRIPT", "LOAD", "return 1"}});
  REQUIRE(load.ok());
  REQUIRE(load->size() == 3);
  CHECK((*load)[0].node == Node(7003));
  CHECK((*load)[0].commands == std::vector<size_t>{0, 1});
  CHECK((*load)[1].commands == std::vector<size_t>{1});
  CHECK((*load)[2].commands == std::vector<size_t>{1});

  CHECK(table.Plan({}).ok());
  CHECK(table.Plan({})->empty());
}

TEST_CASE("routing: nothing is planned when one command can't be routed") {
  ClusterRoutingTable table = ThreeMasters();
  auto cross = table.Plan({{"GET", "a"}, {"MGET", "a", "foo"}});
  REQUIRE(!cross.ok());
  CHECK(cross.status().code() == Status::Code::kInternal);
  CHECK(cross.status().message().find("MGET across slots") != std::string::npos);

  // A slot no master serves (a cluster being built, or one that lost a master for good).
  auto partial = SlotMap::FromClusterSlots(Arr({Entry(0, 5460, 7001)}));
  REQUIRE(partial.ok());
  ClusterRoutingTable half(std::move(*partial));
  auto down = half.Plan({{"GET", KeyIn(0, 5460)}, {"GET", KeyIn(10923, 16383)}});
  REQUIRE(!down.ok());
  CHECK(down.status().code() == Status::Code::kUnavailable);
  CHECK(down.status().message().find("no master serves slot") != std::string::npos);
}

TEST_CASE("routing: MOVED corrects one slot until the next refresh") {
  ClusterRoutingTable table = ThreeMasters();
  const std::string a = KeyIn(0, 5460);
  const std::string a2 = KeyIn(KeySlot(a) + 1, 5460);
  table.Move(KeySlot(a), Node(7003));
  CHECK(*table.NodeFor(KeySlot(a)) == Node(7003));
  CHECK(*table.NodeFor(KeySlot(a2)) == Node(7001));
  table.Move(KeySlot(a), Node(7009));  // a node not yet in the map: now a master
  CHECK(table.Masters() ==
        std::vector<RedisNodeAddress>{Node(7001), Node(7002), Node(7003), Node(7009)});
  auto plan = table.Plan({{"GET", a}, {"GET", a2}});
  REQUIRE(plan.ok());
  REQUIRE(plan->size() == 2);
  CHECK((*plan)[0].node == Node(7009));
  CHECK((*plan)[1].node == Node(7001));
}

TEST_SUITE_END();

}  // namespace courier
