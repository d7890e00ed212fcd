#include "common/redis_cluster_routing.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <unordered_map>

namespace courier {

namespace {

// Where a command keeps its keys.
enum class KeySpec {
  kNone,         // keyless, any node
  kEveryMaster,  // keyless, every master
  kFirst,        // args[1]
  kAll,          // args[1..]
  kEveryOther,   // args[1], args[3], ... (MSET)
  kFirstTwo,     // args[1], args[2] (RENAME, SMOVE, ...)
  kAfterSub,     // args[2] when present (XGROUP CREATE <key>, XINFO STREAM <key>)
  kNumKeys,      // EVAL: args[3 .. 3+args[2])
  kStreams,      // XREAD/XREADGROUP: the first half after STREAMS
  kRefused,      // can't work through the router
};

const std::unordered_map<std::string_view, KeySpec>& Specs() {
  static const auto* specs = [] {
    auto* m = new std::unordered_map<std::string_view, KeySpec>;
    auto add = [m](KeySpec spec, std::initializer_list<std::string_view> names) {
      for (std::string_view n : names) (*m)[n] = spec;
    };
    add(KeySpec::kNone, {"PING", "ECHO", "INFO", "TIME", "CLUSTER", "CONFIG", "CLIENT", "COMMAND",
                         "ROLE", "LASTSAVE", "HELLO", "AUTH"});
    add(KeySpec::kEveryMaster, {"SCRIPT", "FLUSHALL", "FLUSHDB"});
    add(KeySpec::kFirst,
        {// strings and keys
         "GET", "SET", "SETNX", "SETEX", "PSETEX", "GETDEL", "GETEX", "GETSET", "INCR", "INCRBY",
         "INCRBYFLOAT", "DECR", "DECRBY", "APPEND", "STRLEN", "GETRANGE", "SETRANGE", "EXPIRE",
         "PEXPIRE", "EXPIREAT", "PEXPIREAT", "EXPIRETIME", "PEXPIRETIME", "TTL", "PTTL", "PERSIST",
         "TYPE", "DUMP", "RESTORE",
         // hashes
         "HSET", "HSETNX", "HGET", "HMGET", "HMSET", "HGETALL", "HDEL", "HINCRBY", "HINCRBYFLOAT",
         "HEXISTS", "HLEN", "HKEYS", "HVALS", "HSCAN", "HSTRLEN", "HRANDFIELD",
         // streams
         "XADD", "XRANGE", "XREVRANGE", "XLEN", "XACK", "XAUTOCLAIM", "XCLAIM", "XPENDING", "XTRIM",
         "XDEL", "XSETID",
         // sets
         "SADD", "SREM", "SMEMBERS", "SISMEMBER", "SMISMEMBER", "SCARD", "SSCAN", "SPOP",
         "SRANDMEMBER",
         // sorted sets
         "ZADD", "ZREM", "ZRANGE", "ZREVRANGE", "ZRANGEBYSCORE", "ZREVRANGEBYSCORE", "ZSCORE",
         "ZMSCORE", "ZCARD", "ZCOUNT", "ZINCRBY", "ZRANK", "ZREVRANK", "ZREMRANGEBYSCORE",
         "ZREMRANGEBYRANK", "ZSCAN", "ZPOPMIN", "ZPOPMAX",
         // lists
         "LPUSH", "RPUSH", "LPOP", "RPOP", "LRANGE", "LLEN", "LTRIM", "LREM", "LINDEX", "LSET",
         "LPOS"});
    add(KeySpec::kAll, {"DEL", "UNLINK", "EXISTS", "MGET", "TOUCH", "SINTER", "SUNION", "SDIFF",
                        "SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"});
    add(KeySpec::kEveryOther, {"MSET", "MSETNX"});
    add(KeySpec::kFirstTwo, {"RENAME", "RENAMENX", "SMOVE", "RPOPLPUSH", "LMOVE", "COPY"});
    add(KeySpec::kAfterSub, {"XGROUP", "XINFO", "OBJECT", "MEMORY"});
    add(KeySpec::kNumKeys, {"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"});
    add(KeySpec::kStreams, {"XREAD", "XREADGROUP"});
    add(KeySpec::kRefused,
        {"KEYS", "SCAN", "DBSIZE", "RANDOMKEY", "MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH",
         "SELECT", "ASKING", "READONLY", "READWRITE", "SUBSCRIBE", "PSUBSCRIBE", "MONITOR"});
    return m;
  }();
  return *specs;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

Status Refuse(std::string_view command, std::string_view why) {
  return Status::Internal("redis cluster: " + std::string(command) + " " + std::string(why));
}

// The arguments after STREAMS of XREAD (options from args[1]) or XREADGROUP (GROUP g c first).
Result<std::vector<std::string_view>> StreamKeys(const std::string& name,
                                                 const std::vector<std::string>& args) {
  size_t i = 1;
  if (name == "XREADGROUP") {
    if (args.size() < 4 || Upper(args[1]) != "GROUP") {
      return Refuse(name, "without GROUP <group> <consumer>");
    }
    i = 4;
  }
  // Options are skipped by their arity, so a group or consumer named "STREAMS" is no trap.
  while (i < args.size()) {
    std::string option = Upper(args[i]);
    if (option == "STREAMS") break;
    if (option == "COUNT" || option == "BLOCK") {
      i += 2;
    } else if (option == "NOACK") {
      i += 1;
    } else {
      return Refuse(name, "has an unknown option before STREAMS");
    }
  }
  if (i >= args.size()) return Refuse(name, "without STREAMS");
  const size_t rest = args.size() - i - 1;
  if (rest == 0 || rest % 2 != 0) return Refuse(name, "needs as many ids as streams after STREAMS");
  std::vector<std::string_view> keys;
  for (size_t k = i + 1; k < i + 1 + rest / 2; ++k) keys.push_back(args[k]);
  return keys;
}

Result<std::vector<std::string_view>> NumKeys(const std::string& name,
                                              const std::vector<std::string>& args) {
  if (args.size() < 3) return Refuse(name, "without numkeys");
  size_t n = 0;
  const std::string& text = args[2];
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || n > args.size() - 3) {
    return Refuse(name, "has a bad numkeys '" + text.substr(0, 20) + "'");
  }
  return std::vector<std::string_view>(args.begin() + 3, args.begin() + 3 + n);
}

// The spec of args[0], or Internal for an unknown command.
Result<KeySpec> SpecOf(const std::vector<std::string>& args, std::string* name) {
  if (args.empty()) return Status::Internal("redis cluster: an empty command");
  *name = Upper(args[0]);
  auto it = Specs().find(*name);
  if (it == Specs().end()) {
    return Refuse(name->substr(0, 64),
                  "is not known to the cluster router (add it to "
                  "common/redis_cluster_routing.cpp)");
  }
  return it->second;
}

Result<std::vector<std::string_view>> KeysOf(KeySpec spec, const std::string& name,
                                             const std::vector<std::string>& args) {
  std::vector<std::string_view> keys;
  switch (spec) {
    case KeySpec::kNone:
    case KeySpec::kEveryMaster:
      return keys;
    case KeySpec::kRefused:
      return Refuse(name, "can't run on a Redis Cluster through the router");
    case KeySpec::kFirst:
      if (args.size() < 2) return Refuse(name, "without a key");
      keys.push_back(args[1]);
      return keys;
    case KeySpec::kAll:
      if (args.size() < 2) return Refuse(name, "without a key");
      keys.assign(args.begin() + 1, args.end());
      return keys;
    case KeySpec::kEveryOther:
      if (args.size() < 3 || args.size() % 2 == 0) return Refuse(name, "needs key value pairs");
      for (size_t i = 1; i < args.size(); i += 2) keys.push_back(args[i]);
      return keys;
    case KeySpec::kFirstTwo:
      if (args.size() < 3) return Refuse(name, "needs two keys");
      keys = {args[1], args[2]};
      return keys;
    case KeySpec::kAfterSub:
      // XGROUP HELP, MEMORY STATS: no key, any node.
      if (args.size() >= 3) keys.push_back(args[2]);
      return keys;
    case KeySpec::kNumKeys:
      return NumKeys(name, args);
    case KeySpec::kStreams:
      return StreamKeys(name, args);
  }
  return keys;
}

std::string Quoted(std::string_view key) { return "'" + std::string(key.substr(0, 80)) + "'"; }

}  // namespace

std::string RedisNodeAddress::ToString() const {
  const std::string p = std::to_string(port);
  return host.find(':') == std::string::npos ? host + ":" + p : "[" + host + "]:" + p;
}

Result<std::vector<RedisNodeAddress>> ParseRedisSeedList(std::string_view text) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return s;
  };
  std::vector<RedisNodeAddress> seeds;
  if (trim(text).empty()) return Status::InvalidField("the Redis Cluster seed list is empty");
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = std::min(text.find(',', start), text.size());
    std::string_view entry = trim(text.substr(start, comma - start));
    start = comma + 1;
    auto bad = [&](std::string_view why) {
      return Status::InvalidField("Redis Cluster seed '" + std::string(entry.substr(0, 100)) +
                                  "': " + std::string(why) + " (expected host:port)");
    };
    if (entry.empty())
      return Status::InvalidField("the Redis Cluster seed list has an empty entry");
    size_t colon = entry.rfind(':');
    if (colon == std::string_view::npos) return bad("no port");
    std::string_view host = entry.substr(0, colon);
    std::string_view port_text = entry.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    } else if (host.find(':') != std::string_view::npos) {
      return bad("an IPv6 address needs brackets");
    }
    if (host.empty()) return bad("no host");
    if (host.find_first_of(" []/") != std::string_view::npos) return bad("a bad host");
    int port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
        port < 1 || port > 65535) {
      return bad("the port must be 1..65535");
    }
    RedisNodeAddress seed{std::string(host), port};
    if (std::find(seeds.begin(), seeds.end(), seed) != seeds.end()) {
      return bad("listed twice");
    }
    seeds.push_back(std::move(seed));
  }
  return seeds;
}

Result<std::vector<std::string_view>> CommandKeys(const std::vector<std::string>& args) {
  std::string name;
  Result<KeySpec> spec = SpecOf(args, &name);
  if (!spec.ok()) return spec.status();
  return KeysOf(*spec, name, args);
}

Result<CommandRoute> RouteCommand(const std::vector<std::string>& args) {
  std::string name;
  Result<KeySpec> spec = SpecOf(args, &name);
  if (!spec.ok()) return spec.status();
  Result<std::vector<std::string_view>> keys = KeysOf(*spec, name, args);
  if (!keys.ok()) return keys.status();
  CommandRoute route;
  if (*spec == KeySpec::kEveryMaster) {
    route.kind = CommandRoute::Kind::kEveryMaster;
    return route;
  }
  if (keys->empty()) return route;
  route.kind = CommandRoute::Kind::kSlot;
  route.slot = KeySlot(keys->front());
  for (std::string_view key : *keys) {
    if (KeySlot(key) != route.slot) {
      return Refuse(name, "across slots: keys " + Quoted(keys->front()) + " (slot " +
                              std::to_string(route.slot) + ") and " + Quoted(key) + " (slot " +
                              std::to_string(KeySlot(key)) +
                              ") must share a hash tag on a Redis Cluster");
    }
  }
  return route;
}

ClusterErrorKind ClassifyClusterError(std::string_view text) {
  if (ParseRedirect(text)) return ClusterErrorKind::kRedirect;
  for (std::string_view prefix : {"CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN", "LOADING", "READONLY"}) {
    if (text.starts_with(prefix)) return ClusterErrorKind::kUnavailable;
  }
  if (text.starts_with("CROSSSLOT")) return ClusterErrorKind::kCrossSlot;
  return ClusterErrorKind::kNotCluster;
}

std::optional<RedisNodeAddress> ClusterRoutingTable::NodeFor(uint16_t slot) const {
  if (auto it = moved_.find(slot); it != moved_.end()) return it->second;
  const SlotRange* owner = map_.Owner(slot);
  if (owner == nullptr) return std::nullopt;
  return RedisNodeAddress{owner->host, owner->port};
}

void ClusterRoutingTable::Move(uint16_t slot, RedisNodeAddress node) {
  moved_[slot] = std::move(node);
}

std::vector<RedisNodeAddress> ClusterRoutingTable::Masters() const {
  std::vector<RedisNodeAddress> masters;
  auto add = [&](RedisNodeAddress node) {
    if (std::find(masters.begin(), masters.end(), node) == masters.end()) {
      masters.push_back(std::move(node));
    }
  };
  for (const SlotRange& r : map_.ranges()) add(RedisNodeAddress{r.host, r.port});
  for (const auto& [slot, node] : moved_) add(node);
  return masters;
}

Result<std::vector<NodeBatch>> ClusterRoutingTable::Plan(
    const std::vector<std::vector<std::string>>& commands,
    const std::optional<RedisNodeAddress>& any_node) const {
  std::vector<NodeBatch> batches;
  auto batch_of = [&](const RedisNodeAddress& node) -> NodeBatch& {
    for (NodeBatch& b : batches) {
      if (b.node == node) return b;
    }
    batches.push_back(NodeBatch{node, {}});
    return batches.back();
  };
  // Routes first, so that nothing is planned when one command can't be routed.
  std::vector<CommandRoute> routes;
  routes.reserve(commands.size());
  for (const auto& args : commands) {
    Result<CommandRoute> route = RouteCommand(args);
    if (!route.ok()) return route.status();
    routes.push_back(*route);
  }
  std::vector<std::optional<RedisNodeAddress>> targets(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    if (routes[i].kind != CommandRoute::Kind::kSlot) continue;
    targets[i] = NodeFor(routes[i].slot);
    if (!targets[i]) {
      return Status::Unavailable("redis cluster: no master serves slot " +
                                 std::to_string(routes[i].slot) + " (cluster down?)");
    }
  }
  std::optional<RedisNodeAddress> any = any_node;
  if (!any) {
    for (const auto& t : targets) {
      if (t) {
        any = t;
        break;
      }
    }
  }
  const std::vector<RedisNodeAddress> masters = Masters();
  if (!any && !masters.empty()) any = masters.front();
  for (size_t i = 0; i < commands.size(); ++i) {
    switch (routes[i].kind) {
      case CommandRoute::Kind::kSlot:
        batch_of(*targets[i]).commands.push_back(i);
        break;
      case CommandRoute::Kind::kAnyNode:
        if (!any) return Status::Unavailable("redis cluster: no master is known");
        batch_of(*any).commands.push_back(i);
        break;
      case CommandRoute::Kind::kEveryMaster:
        if (masters.empty()) return Status::Unavailable("redis cluster: no master is known");
        for (const RedisNodeAddress& m : masters) batch_of(m).commands.push_back(i);
        break;
    }
  }
  return batches;
}

}  // namespace courier
