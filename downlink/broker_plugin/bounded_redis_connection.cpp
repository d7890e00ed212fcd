#include "downlink/broker_plugin/bounded_redis_connection.h"

#include <openssl/sha.h>
#include <sys/time.h>

#include <array>
#include <cerrno>
#include <utility>

namespace courier::broker {

namespace {

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

bool IsNoScript(const redisReply& r) {
  return IsErrorReply(r) && ReplyText(r).starts_with("NOSCRIPT");
}

}  // namespace

LuaScript::LuaScript(std::string_view text) : source(text), sha1(Sha1Hex(text)) {}

bool IsErrorReply(const redisReply& reply) { return reply.type == REDIS_REPLY_ERROR; }

std::string_view ReplyText(const redisReply& reply) {
  return reply.str == nullptr ? std::string_view() : std::string_view(reply.str, reply.len);
}

Status FirstErrorReply(const std::vector<RedisReplyPtr>& replies) {
  for (const RedisReplyPtr& r : replies) {
    if (IsErrorReply(*r)) {
      return Status::Unavailable("redis error reply: " + std::string(ReplyText(*r)));
    }
  }
  return Status::Ok();
}

BoundedRedisConnection::BoundedRedisConnection(Options options) : options_(std::move(options)) {}

std::string BoundedRedisConnection::Where() const {
  return options_.host + ":" + std::to_string(options_.port);
}

Status BoundedRedisConnection::Connect() { return EnsureConnected(); }

Status BoundedRedisConnection::EnsureConnected() {
  if (context_) return Status::Ok();
  auto now = std::chrono::steady_clock::now();
  if (now < next_connect_attempt_) {
    return Status::Unavailable("redis " + Where() + " failed just now; next attempt within 1 s");
  }
  next_connect_attempt_ = now + std::chrono::milliseconds(kReconnectBackoffMs);
  timeval timeout = ToTimeval(options_.timeout_ms);
  RedisContextPtr context(redisConnectWithTimeout(options_.host.c_str(), options_.port, timeout));
  if (!context) return Status::Unavailable("cannot allocate a redis context");
  if (context->err != 0) {
    return Status::Unavailable("cannot connect to redis " + Where() + ": " + context->errstr);
  }
  if (redisSetTimeout(context.get(), timeout) != REDIS_OK) {
    return Status::Unavailable("cannot set the redis timeout: " + std::string(context->errstr));
  }
  context_ = std::move(context);
  next_connect_attempt_ = {};
  return Status::Ok();
}

Status BoundedRedisConnection::Disconnect(std::string_view what) {
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
  return Status::Unavailable("redis " + Where() + " " + std::string(what) + ": " + detail);
}

Result<std::vector<RedisReplyPtr>> BoundedRedisConnection::Pipeline(
    const std::vector<RedisCommand>& commands) {
  bool reused = context_ != nullptr;
  last_failure_was_closed_connection_ = false;
  Result<std::vector<RedisReplyPtr>> replies = PipelineOnce(commands);
  if (!replies.ok() && reused && last_failure_was_closed_connection_) {
    replies = PipelineOnce(commands);
  }
  return replies;
}

Result<std::vector<RedisReplyPtr>> BoundedRedisConnection::PipelineOnce(
    const std::vector<RedisCommand>& commands) {
  Status s = EnsureConnected();
  if (!s.ok()) return s;
  std::vector<const char*> argv;
  std::vector<size_t> argv_len;
  for (const RedisCommand& command : commands) {
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

Result<std::vector<RedisReplyPtr>> BoundedRedisConnection::EvalEach(
    const LuaScript& script, int num_keys, const std::vector<RedisCommand>& calls) {
  auto eval = [&](const std::string& verb, const std::string& body, const RedisCommand& call) {
    RedisCommand command = {verb, body, std::to_string(num_keys)};
    command.insert(command.end(), call.begin(), call.end());
    return command;
  };
  std::vector<RedisCommand> commands;
  commands.reserve(calls.size());
  for (const RedisCommand& call : calls) commands.push_back(eval("EVALSHA", script.sha1, call));
  Result<std::vector<RedisReplyPtr>> replies = Pipeline(commands);
  if (!replies.ok()) return replies;

  std::vector<size_t> missing;  // calls answered NOSCRIPT
  for (size_t i = 0; i < replies->size(); ++i) {
    if (IsNoScript(*(*replies)[i])) missing.push_back(i);
  }
  if (missing.empty()) return replies;
  commands.clear();
  const std::string source(script.source);
  for (size_t i : missing) commands.push_back(eval("EVAL", source, calls[i]));
  Result<std::vector<RedisReplyPtr>> again = Pipeline(commands);
  if (!again.ok()) return again.status();
  for (size_t j = 0; j < missing.size(); ++j) (*replies)[missing[j]] = std::move((*again)[j]);
  return replies;
}

}  // namespace courier::broker
