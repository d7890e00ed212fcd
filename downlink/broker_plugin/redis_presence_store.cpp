#include "downlink/broker_plugin/redis_presence_store.h"

#include <openssl/sha.h>
#include <sys/time.h>

#include <array>
#include <cerrno>
#include <utility>

#include "common/keys.h"

namespace courier::broker {

namespace {

// KEYS[1] the session, KEYS[2] the user's online hash (one hash tag, so one cluster slot).
// ARGV[1] the device, ARGV[2] online-until in ms, ARGV[3] the ttl in ms.
constexpr std::string_view kMarkOnlineIfSessionScript = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
)lua";

// Redis names a cached script by the SHA-1 of its text (EVALSHA).
std::string Sha1Hex(std::string_view text) {
  std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * digest.size());
  for (unsigned char b : digest) {
    hex.push_back(kHex[b >> 4]);
    hex.push_back(kHex[b & 15]);
  }
  return hex;
}

timeval ToTimeval(int ms) {
  timeval tv{};
  tv.tv_sec = ms / 1000;
  tv.tv_usec = (ms % 1000) * 1000;
  return tv;
}

bool IsError(const redisReply& r) { return r.type == REDIS_REPLY_ERROR; }

std::string_view ReplyText(const redisReply& r) {
  return r.str == nullptr ? std::string_view() : std::string_view(r.str, r.len);
}

Status FirstError(const std::vector<RedisReplyPtr>& replies) {
  for (const RedisReplyPtr& r : replies) {
    if (IsError(*r)) return Status::Unavailable("redis error reply: " + std::string(ReplyText(*r)));
  }
  return Status::Ok();
}

}  // namespace

RedisPresenceStore::RedisPresenceStore(Options options)
    : options_(std::move(options)), script_sha1_(Sha1Hex(kMarkOnlineIfSessionScript)) {}

Status RedisPresenceStore::Connect() { return EnsureConnected(); }

Status RedisPresenceStore::EnsureConnected() {
  if (context_) return Status::Ok();
  std::string where = options_.host + ":" + std::to_string(options_.port);
  auto now = std::chrono::steady_clock::now();
  if (now < next_connect_attempt_) {
    return Status::Unavailable("redis " + where + " failed just now; next attempt within 1 s");
  }
  next_connect_attempt_ = now + std::chrono::milliseconds(kReconnectBackoffMs);
  timeval timeout = ToTimeval(options_.timeout_ms);
  RedisContextPtr context(redisConnectWithTimeout(options_.host.c_str(), options_.port, timeout));
  if (!context) return Status::Unavailable("cannot allocate a redis context");
  if (context->err != 0) {
    return Status::Unavailable("cannot connect to redis " + where + ": " + context->errstr);
  }
  if (redisSetTimeout(context.get(), timeout) != REDIS_OK) {
    return Status::Unavailable("cannot set the redis timeout: " + std::string(context->errstr));
  }
  context_ = std::move(context);
  next_connect_attempt_ = {};
  return Status::Ok();
}

Status RedisPresenceStore::Disconnect(std::string_view what) {
  int saved_errno = errno;
  std::string detail = context_ && context_->errstr[0] != '\0' ? context_->errstr : "no reply";
  last_failure_was_closed_connection_ =
      context_ &&
      (context_->err == REDIS_ERR_EOF ||
       (context_->err == REDIS_ERR_IO && (saved_errno == ECONNRESET || saved_errno == EPIPE)));
  if (!last_failure_was_closed_connection_) {
    next_connect_attempt_ =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(kReconnectBackoffMs);
  }
  context_.reset();
  return Status::Unavailable("redis " + options_.host + ":" + std::to_string(options_.port) + " " +
                             std::string(what) + ": " + detail);
}

Result<std::vector<RedisReplyPtr>> RedisPresenceStore::Pipeline(
    const std::vector<Command>& commands) {
  bool reused = context_ != nullptr;
  last_failure_was_closed_connection_ = false;
  Result<std::vector<RedisReplyPtr>> replies = PipelineOnce(commands);
  if (!replies.ok() && reused && last_failure_was_closed_connection_) {
    replies = PipelineOnce(commands);
  }
  return replies;
}

Result<std::vector<RedisReplyPtr>> RedisPresenceStore::PipelineOnce(
    const std::vector<Command>& commands) {
  Status s = EnsureConnected();
  if (!s.ok()) return s;
  std::vector<const char*> argv;
  std::vector<size_t> argv_len;
  for (const Command& command : commands) {
    argv.clear();
    argv_len.clear();
    for (const std::string& arg : command) {
      argv.push_back(arg.data());
      argv_len.push_back(arg.size());
    }
    if (redisAppendCommandArgv(context_.get(), static_cast<int>(argv.size()), argv.data(),
                               argv_len.data()) != REDIS_OK) {
      return Disconnect("append");
    }
  }
  std::vector<RedisReplyPtr> replies;
  replies.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(context_.get(), &raw) != REDIS_OK || raw == nullptr) {
      return Disconnect("read");
    }
    replies.emplace_back(static_cast<redisReply*>(raw));
  }
  return replies;
}

Result<bool> RedisPresenceStore::CheckSessionAndMarkOnline(std::string_view user_id,
                                                           std::string_view session_id,
                                                           std::string_view device_id,
                                                           int64_t now_ms) {
  Command eval = {"EVALSHA",
                  script_sha1_,
                  "2",
                  keys::Session(user_id, session_id),
                  keys::Online(user_id),
                  std::string(device_id),
                  std::to_string(now_ms + options_.presence_ttl_ms),
                  std::to_string(options_.presence_ttl_ms)};
  Result<std::vector<RedisReplyPtr>> replies = Pipeline({eval});
  if (!replies.ok()) return replies.status();
  if (IsError(*replies->front()) && ReplyText(*replies->front()).starts_with("NOSCRIPT")) {
    // First use on this Redis, or after SCRIPT FLUSH / a restart: EVAL caches the script.
    eval[0] = "EVAL";
    eval[1] = kMarkOnlineIfSessionScript;
    replies = Pipeline({eval});
    if (!replies.ok()) return replies.status();
  }
  if (Status s = FirstError(*replies); !s.ok()) return s;
  const redisReply& reply = *replies->front();
  if (reply.type != REDIS_REPLY_INTEGER) {
    return Status::Unavailable("unexpected reply type from the session script");
  }
  return reply.integer == 1;
}

Status RedisPresenceStore::MarkOffline(const std::vector<DeviceRef>& devices, int64_t now_ms) {
  if (devices.empty()) return Status::Ok();
  std::string now = std::to_string(now_ms);
  std::vector<Command> commands;
  commands.reserve(2 * devices.size());
  for (const DeviceRef& d : devices) {
    commands.push_back({"HDEL", keys::Online(d.user_id), d.device_id});
    commands.push_back({"SET", keys::LastSeen(d.user_id), now});
  }
  Result<std::vector<RedisReplyPtr>> replies = Pipeline(commands);
  if (!replies.ok()) return replies.status();
  return FirstError(*replies);
}

Status RedisPresenceStore::RefreshOnline(const std::vector<DeviceRef>& devices, int64_t now_ms) {
  if (devices.empty()) return Status::Ok();
  std::string until = std::to_string(now_ms + options_.presence_ttl_ms);
  std::string ttl = std::to_string(options_.presence_ttl_ms);
  std::vector<Command> commands;
  commands.reserve(2 * devices.size());
  for (const DeviceRef& d : devices) {
    std::string online = keys::Online(d.user_id);
    commands.push_back({"HSET", online, d.device_id, until});
    commands.push_back({"PEXPIRE", std::move(online), ttl});
  }
  Result<std::vector<RedisReplyPtr>> replies = Pipeline(commands);
  if (!replies.ok()) return replies.status();
  return FirstError(*replies);
}

}  // namespace courier::broker
