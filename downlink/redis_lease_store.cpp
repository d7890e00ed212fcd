#include "downlink/redis_lease_store.h"

#include "common/keys.h"

namespace courier {

RedisLeaseStore::RedisLeaseStore(RedisConfig redis) : redis_(std::move(redis)) {}

Result<RedisConnection*> RedisLeaseStore::Connection() {
  if (conn_ == nullptr || conn_->broken()) {
    auto c = RedisConnection::Connect(redis_);
    if (!c.ok()) return c.status();
    conn_ = std::move(*c);
  }
  return conn_.get();
}

Result<RedisValue> RedisLeaseStore::Eval(const RedisScript& script,
                                         const std::vector<std::string>& keys,
                                         const std::vector<std::string>& args) {
  auto conn = Connection();
  if (!conn.ok()) return conn.status();
  auto r = (*conn)->Eval(script, keys, args);
  if (!r.ok()) return r.status();
  if (r->type == RedisValue::Type::kError) {
    return Status::Unavailable(script.name() + ": " + r->str);
  }
  return r;
}

Result<std::vector<std::string>> RedisLeaseStore::Heartbeat(const std::string& me, int64_t ttl_ms) {
  auto r = Eval(live_, {keys::LiveDownlinks()}, {"beat", me, std::to_string(ttl_ms)});
  if (!r.ok()) return r.status();
  std::vector<std::string> names;
  for (const auto& v : r->elements) names.push_back(v.str);
  return names;
}

Status RedisLeaseStore::Leave(const std::string& me) {
  auto r = Eval(live_, {keys::LiveDownlinks()}, {"leave", me, "0"});
  return r.ok() ? Status::Ok() : r.status();
}

Result<std::vector<std::string>> RedisLeaseStore::Owners(
    const std::vector<std::string>& lease_keys) {
  auto conn = Connection();
  if (!conn.ok()) return conn.status();
  std::vector<std::vector<std::string>> cmds;
  for (const auto& k : lease_keys) cmds.push_back({"GET", k});
  auto r = (*conn)->Pipeline(cmds);
  if (!r.ok()) return r.status();
  std::vector<std::string> owners;
  for (const auto& v : *r) {
    if (v.type == RedisValue::Type::kError) return Status::Unavailable("redis GET: " + v.str);
    owners.push_back(v.is_string() ? v.str : "");
  }
  return owners;
}

Result<bool> RedisLeaseStore::Apply(Op op, const std::string& lease_key, const std::string& me,
                                    int64_t ttl_ms) {
  const char* name = op == Op::kTake ? "take" : op == Op::kRenew ? "renew" : "release";
  auto r = Eval(lease_, {lease_key}, {name, me, std::to_string(ttl_ms)});
  if (!r.ok()) return r.status();
  return r->is_integer() && r->integer == 1;
}

}  // namespace courier
