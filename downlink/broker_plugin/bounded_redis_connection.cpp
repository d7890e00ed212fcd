#include "downlink/broker_plugin/bounded_redis_connection.h"

#include <openssl/sha.h>
#include <sys/time.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <utility>

#include "common/redis_client.h"

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

BoundedRedisConnection::BoundedRedisConnection(Options options) : options_(std::move(options)) {
  single_.address = RedisNodeAddress{options_.host, options_.port};
}

Status BoundedRedisConnection::Connect() {
  if (!options_.cluster.empty()) return RefreshSlotMap();
  return EnsureConnected(single_);
}

Status BoundedRedisConnection::EnsureConnected(Link& link) {
  if (link.context) return Status::Ok();
  const std::string where = link.address.ToString();
  auto now = std::chrono::steady_clock::now();
  if (now < link.next_connect_attempt) {
    return Status::Unavailable("redis " + where + " failed just now; next attempt within 1 s");
  }
  link.next_connect_attempt = now + std::chrono::milliseconds(kReconnectBackoffMs);
  timeval timeout = ToTimeval(options_.timeout_ms);
  RedisContextPtr context(
      redisConnectWithTimeout(link.address.host.c_str(), link.address.port, timeout));
  if (!context) return Status::Unavailable("cannot allocate a redis context");
  if (context->err != 0) {
    return Status::Unavailable("cannot connect to redis " + where + ": " + context->errstr);
  }
  if (redisSetTimeout(context.get(), timeout) != REDIS_OK) {
    return Status::Unavailable("cannot set the redis timeout: " + std::string(context->errstr));
  }
  link.context = std::move(context);
  link.next_connect_attempt = {};
  return Status::Ok();
}

Status BoundedRedisConnection::Disconnect(Link& link, std::string_view what) {
  int saved_errno = errno;
  const RedisContextPtr& context = link.context;
  std::string detail = context && context->errstr[0] != '\0' ? context->errstr : "no reply";
  link.last_failure_was_closed_connection =
      context &&
      (context->err == REDIS_ERR_EOF ||
       (context->err == REDIS_ERR_IO && (saved_errno == ECONNRESET || saved_errno == EPIPE)));
  if (!link.last_failure_was_closed_connection) {
    link.next_connect_attempt =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(kReconnectBackoffMs);
  }
  link.context.reset();
  return Status::Unavailable("redis " + link.address.ToString() + " " + std::string(what) + ": " +
                             detail);
}

Result<std::vector<RedisReplyPtr>> BoundedRedisConnection::Pipeline(
    const std::vector<RedisCommand>& commands) {
  if (!options_.cluster.empty()) return ClusterPipeline(commands);
  return SendBatch(single_, commands);
}

Result<std::vector<RedisReplyPtr>> BoundedRedisConnection::SendBatch(
    Link& link, const std::vector<RedisCommand>& commands) {
  bool reused = link.context != nullptr;
  link.last_failure_was_closed_connection = false;
  Result<std::vector<RedisReplyPtr>> replies = PipelineOnce(link, commands);
  if (!replies.ok() && reused && link.last_failure_was_closed_connection) {
    replies = PipelineOnce(link, commands);
  }
  return replies;
}

Result<std::vector<RedisReplyPtr>> BoundedRedisConnection::PipelineOnce(
    Link& link, const std::vector<RedisCommand>& commands) {
  Status s = EnsureConnected(link);
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
    if (redisAppendCommandArgv(link.context.get(), static_cast<int>(argv.size()), argv.data(),
                               argv_len.data()) != REDIS_OK) {
      return Disconnect(link, "append");
    }
  }
  std::vector<RedisReplyPtr> replies;
  replies.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(link.context.get(), &raw) != REDIS_OK || raw == nullptr) {
      return Disconnect(link, "read");
    }
    replies.emplace_back(static_cast<redisReply*>(raw));
  }
  return replies;
}

BoundedRedisConnection::Link& BoundedRedisConnection::NodeLink(const RedisNodeAddress& node) {
  Link& link = nodes_[node];
  link.address = node;
  return link;
}

Status BoundedRedisConnection::RefreshSlotMap() {
  // Connected nodes first (no connect to wait for), then the known masters, then the seeds;
  // nodes in their reconnect backoff answer at once and don't count as an attempt.
  std::vector<RedisNodeAddress> candidates;
  auto add = [&](const RedisNodeAddress& node) {
    if (std::find(candidates.begin(), candidates.end(), node) == candidates.end()) {
      candidates.push_back(node);
    }
  };
  for (const auto& [node, link] : nodes_) {
    if (link.context) add(node);
  }
  if (table_) {
    for (const RedisNodeAddress& m : table_->Masters()) add(m);
  }
  for (const RedisNodeAddress& s : options_.cluster) add(s);

  Status last = Status::Unavailable("redis cluster: no node to ask for the slot map");
  int attempts = 0;
  const auto now = std::chrono::steady_clock::now();
  for (const RedisNodeAddress& node : candidates) {
    if (attempts == kMaxRefreshAttempts) break;
    Link& link = NodeLink(node);
    if (!link.context && now < link.next_connect_attempt) continue;
    ++attempts;
    Result<std::vector<RedisReplyPtr>> reply = SendBatch(link, {{"CLUSTER", "SLOTS"}});
    if (!reply.ok()) {
      last = reply.status();
      continue;
    }
    const redisReply& slots = *reply->front();
    if (IsErrorReply(slots)) {
      last = Status::Unavailable("redis cluster: " + node.ToString() +
                                 " answers CLUSTER SLOTS with " + std::string(ReplyText(slots)));
      continue;
    }
    Result<SlotMap> map = SlotMap::FromClusterSlots(ToRedisValue(slots));
    if (!map.ok() || map->ranges().empty()) {
      last = Status::Unavailable("redis cluster: " + node.ToString() + ": no usable slot map");
      continue;
    }
    table_.emplace(std::move(*map));
    refresh_due_ = false;
    return Status::Ok();
  }
  return last;
}

Result<RedisReplyPtr> BoundedRedisConnection::FollowRedirects(const RedisCommand& command,
                                                              Redirect redirect,
                                                              const RedisNodeAddress& from) {
  RedisNodeAddress previous = from;
  for (int hop = 0; hop < kMaxRedirects; ++hop) {
    RedisNodeAddress target{redirect.host.empty() ? previous.host : redirect.host, redirect.port};
    const bool ask = redirect.kind == Redirect::Kind::kAsk;
    if (!ask) {
      table_->Move(redirect.slot, target);
      refresh_due_ = true;
    }
    std::vector<RedisCommand> batch;
    if (ask) batch.push_back({"ASKING"});
    batch.push_back(command);
    Result<std::vector<RedisReplyPtr>> replies = SendBatch(NodeLink(target), batch);
    if (!replies.ok()) {
      refresh_due_ = true;
      return replies.status();
    }
    RedisReplyPtr reply = std::move(replies->back());
    std::optional<Redirect> next =
        IsErrorReply(*reply) ? ParseRedirect(ReplyText(*reply)) : std::nullopt;
    if (!next) return reply;
    redirect = std::move(*next);
    previous = target;
  }
  refresh_due_ = true;
  return Status::Unavailable("redis cluster: " + command[0] + " redirected more than " +
                             std::to_string(kMaxRedirects) + " times");
}

Result<std::vector<RedisReplyPtr>> BoundedRedisConnection::ClusterPipeline(
    const std::vector<RedisCommand>& commands) {
  if (!table_ || refresh_due_) {
    Status s = RefreshSlotMap();
    // A stale map still routes most slots right, and MOVED corrects the rest.
    if (!s.ok() && !table_) return s;
  }
  Result<std::vector<NodeBatch>> plan = table_->Plan(commands);
  if (!plan.ok()) return plan.status();

  std::vector<RedisReplyPtr> replies(commands.size());
  std::vector<RedisNodeAddress> answered_by(commands.size());
  for (const NodeBatch& batch : *plan) {
    std::vector<RedisCommand> part;
    part.reserve(batch.commands.size());
    for (size_t i : batch.commands) part.push_back(commands[i]);
    Result<std::vector<RedisReplyPtr>> got = SendBatch(NodeLink(batch.node), part);
    if (!got.ok()) {
      refresh_due_ = true;
      return got.status();
    }
    for (size_t j = 0; j < batch.commands.size(); ++j) {
      const size_t i = batch.commands[j];
      // A command sent to every master answers with the first error, else the first reply.
      if (!replies[i] || (IsErrorReply(*(*got)[j]) && !IsErrorReply(*replies[i]))) {
        replies[i] = std::move((*got)[j]);
        answered_by[i] = batch.node;
      }
    }
  }
  for (size_t i = 0; i < commands.size(); ++i) {
    if (!IsErrorReply(*replies[i])) continue;
    switch (ClassifyClusterError(ReplyText(*replies[i]))) {
      case ClusterErrorKind::kCrossSlot:
        return Status::Internal("redis cluster: " + commands[i][0] +
                                " across slots: " + std::string(ReplyText(*replies[i])));
      case ClusterErrorKind::kUnavailable:
        refresh_due_ = true;  // the reply stays: the callers' FirstErrorReply reports it
        break;
      case ClusterErrorKind::kRedirect: {
        Result<RedisReplyPtr> r =
            FollowRedirects(commands[i], *ParseRedirect(ReplyText(*replies[i])), answered_by[i]);
        if (!r.ok()) return r.status();
        replies[i] = std::move(*r);
        break;
      }
      case ClusterErrorKind::kNotCluster:
        break;
    }
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
