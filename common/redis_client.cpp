#include "common/redis_client.h"

#include <openssl/sha.h>
#include <poll.h>

#include <chrono>
#include <cstdio>

#include "common/error_counter.h"
#include "common/lua_scripts.h"
#include "common/redis_cluster_connection.h"

namespace courier {

namespace {

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

RedisValue Convert(const redisReply* r) {
  RedisValue v;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      v.type = RedisValue::Type::kString;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      v.type = RedisValue::Type::kStatus;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      v.type = RedisValue::Type::kError;
      v.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      v.type = RedisValue::Type::kInteger;
      v.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      v.type = RedisValue::Type::kArray;
      v.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) v.elements.push_back(Convert(r->element[i]));
      break;
    default:
      v.type = RedisValue::Type::kNil;
  }
  return v;
}

// Counts `s` in `errors` (if any) under `op`; returns it.
Status Counted(ErrorCounter* errors, std::string_view op, Status s) {
  if (errors != nullptr) errors->Count(op, s);
  return s;
}

timeval ToTimeval(int ms) { return timeval{ms / 1000, (ms % 1000) * 1000}; }

void AppendCommand(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(args.size());
  lens.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  redisAppendCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data());
}

}  // namespace

RedisValue ToRedisValue(const redisReply& reply) { return Convert(&reply); }

RedisScript::RedisScript(std::string_view name) : name_(name), source_(lua::Source(name)) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(source_.data()), source_.size(), digest);
  char hex[2 * SHA_DIGEST_LENGTH + 1];
  for (int i = 0; i < SHA_DIGEST_LENGTH; ++i) std::snprintf(hex + 2 * i, 3, "%02x", digest[i]);
  sha1_.assign(hex, 2 * SHA_DIGEST_LENGTH);
}

RedisConnection::RedisConnection(redisContext* c, ErrorCounter* errors)
    : ctx_(c), errors_(errors) {}

RedisConnection::RedisConnection(std::unique_ptr<RedisClusterConnection> cluster,
                                 ErrorCounter* errors)
    : cluster_(std::move(cluster)), errors_(errors) {}

RedisConnection::~RedisConnection() = default;

Result<std::unique_ptr<RedisConnection>> RedisConnection::Connect(const RedisConfig& config) {
  return Connect(config, nullptr);
}

Result<std::unique_ptr<RedisConnection>> RedisConnection::Connect(
    const RedisConfig& config, std::shared_ptr<ClusterNodeHealth> cluster_health) {
  if (!config.cluster.empty()) {
    auto cluster = RedisClusterConnection::Connect(config, std::move(cluster_health));
    if (!cluster.ok()) return Counted(config.errors, "connect", cluster.status());
    return std::unique_ptr<RedisConnection>(
        new RedisConnection(std::move(*cluster), config.errors));
  }
  redisContext* c = redisConnectWithTimeout(config.host.c_str(), config.port,
                                            ToTimeval(config.connect_timeout_ms));
  if (c == nullptr)
    return Counted(config.errors, "connect", Status::Unavailable("redis: out of memory"));
  std::unique_ptr<RedisConnection> conn(new RedisConnection(c, config.errors));
  if (c->err != 0) {
    return Counted(config.errors, "connect",
                   Status::Unavailable("redis " + config.host + ":" + std::to_string(config.port) +
                                       ": " + c->errstr));
  }
  redisSetTimeout(c, ToTimeval(config.command_timeout_ms));
  redisEnableKeepAlive(c);
  return conn;
}

Status RedisConnection::ReadReply(RedisValue* out) {
  void* raw = nullptr;
  if (redisGetReply(ctx_.get(), &raw) != REDIS_OK || raw == nullptr) {
    broken_ = true;
    return Status::Unavailable(std::string("redis: ") +
                               (ctx_->err != 0 ? ctx_->errstr : "connection lost"));
  }
  ReplyPtr reply(static_cast<redisReply*>(raw));
  *out = Convert(reply.get());
  return Status::Ok();
}

Result<RedisValue> RedisConnection::Command(const std::vector<std::string>& args) {
  auto replies = Pipeline({args});
  if (!replies.ok()) return replies.status();
  return std::move(replies->front());
}

Result<std::vector<RedisValue>> RedisConnection::Pipeline(
    const std::vector<std::vector<std::string>>& commands) {
  auto r = PipelineUncounted(commands);
  if (!r.ok()) return Counted(errors_, "command", r.status());
  return r;
}

Result<std::vector<RedisValue>> RedisConnection::PipelineUncounted(
    const std::vector<std::vector<std::string>>& commands) {
  if (cluster_ != nullptr) return cluster_->Pipeline(commands);
  if (broken_) return Status::Unavailable("redis: connection lost");
  for (const auto& args : commands) AppendCommand(ctx_.get(), args);
  std::vector<RedisValue> replies(commands.size());
  for (auto& r : replies) {
    Status s = ReadReply(&r);
    if (!s.ok()) return s;
  }
  return replies;
}

Result<RedisValue> RedisConnection::Eval(const RedisScript& script,
                                         const std::vector<std::string>& keys,
                                         const std::vector<std::string>& args) {
  std::vector<std::string> cmd;
  cmd.reserve(3 + keys.size() + args.size());
  cmd.push_back("EVALSHA");
  cmd.push_back(script.sha1());
  cmd.push_back(std::to_string(keys.size()));
  cmd.insert(cmd.end(), keys.begin(), keys.end());
  cmd.insert(cmd.end(), args.begin(), args.end());
  auto r = Command(cmd);
  if (r.ok() && r->type == RedisValue::Type::kError && r->str.rfind("NOSCRIPT", 0) == 0) {
    cmd[0] = "EVAL";
    cmd[1] = script.source();
    r = Command(cmd);
  }
  // Cluster mode refuses a script whose keys span slots before sending it: name the script.
  if (!r.ok() && r.status().code() == Status::Code::kInternal) {
    return Status::Internal("redis script " + script.name() + ": " + r.status().message());
  }
  if (!r.ok()) return r;
  if (r->type == RedisValue::Type::kError) {
    // LOADING / MASTERDOWN / BUSY are Redis being unavailable, not a bug of ours.
    for (const char* transient : {"LOADING", "MASTERDOWN", "BUSY", "TRYAGAIN", "CLUSTERDOWN"}) {
      if (r->str.rfind(transient, 0) == 0) {
        return Counted(errors_, "script", Status::Unavailable("redis: " + r->str));
      }
    }
    return Counted(errors_, "script",
                   Status::Internal("redis script " + script.name() + ": " + r->str));
  }
  return r;
}

RedisPool::RedisPool(RedisConfig config, int size)
    : config_(std::move(config)),
      cluster_health_(config_.cluster.empty() ? nullptr
                                              : RedisClusterConnection::MakeHealth(config_)),
      free_slots_(size) {}

RedisPool::Lease::~Lease() {
  if (pool_ != nullptr && c_ != nullptr) pool_->Release(std::move(c_));
}

bool RedisConnection::broken() const {
  return cluster_ != nullptr ? cluster_->unreachable() : broken_;
}

bool RedisConnection::LooksAlive() const {
  if (cluster_ != nullptr) return !cluster_->unreachable();
  // An idle connection has nothing to read; anything readable is the peer closing it
  // (Redis restarted). Checking costs one poll() and spares the caller a 503.
  pollfd p{ctx_->fd, POLLIN | POLLRDHUP, 0};
  return !broken_ && poll(&p, 1, 0) == 0;
}

namespace {

int64_t SteadyNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Result<RedisPool::Lease> RedisPool::Acquire() {
  std::unique_ptr<RedisConnection> conn;
  {
    std::unique_lock lock(mu_);
    if (failing_) {
      if (probing_ || SteadyNowMs() < fail_fast_until_ms_) {
        return Status::Unavailable("redis: not answering (failed recently; retrying shortly)");
      }
      probing_ = true;  // this caller tries Redis; the others keep failing fast meanwhile
    }
    cv_.wait(lock, [this] { return free_slots_ > 0; });
    --free_slots_;
    if (!idle_.empty()) {
      conn = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (conn != nullptr && !conn->LooksAlive()) conn.reset();
  if (conn == nullptr) {
    auto fresh = RedisConnection::Connect(config_, cluster_health_);
    if (!fresh.ok()) {
      Release(nullptr);
      return fresh.status();
    }
    conn = std::move(*fresh);
  }
  return Lease(this, std::move(conn));
}

void RedisPool::Release(std::unique_ptr<RedisConnection> c) {
  std::lock_guard lock(mu_);
  if (c != nullptr && !c->broken()) {
    idle_.push_back(std::move(c));
    failing_ = false;
  } else {
    failing_ = true;
    fail_fast_until_ms_ = SteadyNowMs() + kFailFastMs;
    // The idle connections were opened before the failure: drop them, and let the next caller
    // after the pause find out with a fresh one whether Redis is back.
    idle_.clear();
  }
  probing_ = false;
  ++free_slots_;
  cv_.notify_one();
}

Result<RedisValue> RedisPool::Command(const std::vector<std::string>& args) {
  auto lease = Acquire();
  if (!lease.ok()) return lease.status();
  return (*lease)->Command(args);
}

Result<std::vector<RedisValue>> RedisPool::Pipeline(
    const std::vector<std::vector<std::string>>& commands) {
  auto lease = Acquire();
  if (!lease.ok()) return lease.status();
  return (*lease)->Pipeline(commands);
}

Result<RedisValue> RedisPool::Eval(const RedisScript& script, const std::vector<std::string>& keys,
                                   const std::vector<std::string>& args) {
  auto lease = Acquire();
  if (!lease.ok()) return lease.status();
  return (*lease)->Eval(script, keys, args);
}

}  // namespace courier
