#include "common/redis_steps.h"

#include <map>

#include "common/keys.h"
#include "common/redis_reply.h"

namespace courier {

using namespace redis_reply;

Status RedisSteps::CheckSession(const Caller& c) {
  auto r = pool_->Command({"EXISTS", keys::Session(c.user_id, c.session_id)});
  if (!r.ok()) return r.status();
  if (r->type == RedisValue::Type::kError) return Status::Internal("redis EXISTS: " + r->str);
  if (Int(*r) != 1) return Status::Unauthorized("session ended");
  return Status::Ok();
}

Result<std::vector<RedisValue>> RedisSteps::EvalAfter(
    const std::vector<std::vector<std::string>>& commands, const RedisScript& script,
    const ScriptCalls& calls) {
  std::vector<std::vector<std::string>> cmds = commands;
  for (const auto& [call_keys, call_args] : calls) {
    std::vector<std::string> cmd = {"EVALSHA", script.sha1(), std::to_string(call_keys.size())};
    cmd.insert(cmd.end(), call_keys.begin(), call_keys.end());
    cmd.insert(cmd.end(), call_args.begin(), call_args.end());
    cmds.push_back(std::move(cmd));
  }
  std::vector<RedisValue> replies;
  if (cmds.empty()) return replies;
  auto r = pool_->Pipeline(cmds);
  if (!r.ok()) return r.status();
  replies = std::move(*r);
  for (size_t i = 0; i < calls.size(); ++i) {
    RedisValue& v = replies[commands.size() + i];
    if (v.type == RedisValue::Type::kError && v.str.rfind("NOSCRIPT", 0) == 0) {
      // Not loaded on that node yet (a restarted Redis, another node of a cluster): it did not
      // run, so run it again with a load.
      auto again = pool_->Eval(script, calls[i].first, calls[i].second);
      if (!again.ok()) return again.status();
      v = std::move(*again);
    }
    if (v.type == RedisValue::Type::kError) {
      return Status::Internal("redis script " + script.name() + ": " + v.str);
    }
  }
  return replies;
}

Result<std::vector<InboxEntry>> RedisSteps::PutInboxes(const std::vector<InboxWrite>& writes,
                                                       int64_t now_ms) {
  ScriptCalls calls;
  for (const InboxWrite& w : writes) {
    calls.push_back(
        {{keys::Operation(w.user, w.op)},
         {w.user, w.epoch_candidate, w.rest, std::to_string(now_ms),
          std::to_string(policy_->cmid_window_s), std::to_string(policy_->inbox_max_entries),
          std::to_string(policy_->inbox_retention_ms), w.conv, std::to_string(w.conv_seq),
          w.from}});
  }
  auto replies = EvalEach(inbox_op_, calls);
  if (!replies.ok()) return replies.status();
  std::vector<InboxEntry> out;
  for (size_t i = 0; i < writes.size(); ++i) {
    const RedisValue& v = (*replies)[i];
    if (!v.is_array() || v.elements.size() != 2) return Malformed("inbox_op");
    out.push_back(InboxEntry{writes[i].user, Int(v.elements[0]), v.elements[1].str, ""});
  }
  return out;
}

Status RedisSteps::QueuePushes(const std::vector<InboxEntry>& entries,
                               const std::vector<std::vector<std::string>>& with) {
  // Per user, ascending seq: one queue_pushes.lua call each, pipelined. A push is its envelope
  // and its request id.
  using Pushes = std::map<int64_t, std::pair<std::string, std::string>>;
  std::map<std::string, Pushes> by_user;
  for (const InboxEntry& e : entries) {
    if (!e.envelope.empty()) by_user[e.user][e.seq] = {e.envelope, e.request_id};
  }
  auto call = [this](const std::string& user, const Pushes& pushes) {
    int shard = keys::DeliveryShard(user, policy_->delivery_shards);
    std::vector<std::string> args = {user, std::to_string(policy_->delivery_stream_max),
                                     std::to_string(kPushCatchUp)};
    for (const auto& [seq, push] : pushes) {
      args.push_back(std::to_string(seq));
      args.push_back(push.first);
      args.push_back(push.second);
    }
    return std::make_pair(
        std::vector<std::string>{keys::DeliveryStream(shard), keys::PushCursors(shard)}, args);
  };
  ScriptCalls calls;
  for (const auto& [user, pushes] : by_user) calls.push_back(call(user, pushes));
  auto replies = EvalAfter(with, queue_pushes_, calls);
  if (!replies.ok()) return replies.status();
  for (size_t w = 0; w < with.size(); ++w) {
    if ((*replies)[w].type == RedisValue::Type::kError) {
      return Status::Internal(with[w][0] + " with the pushes: " + (*replies)[w].str);
    }
  }
  size_t i = with.size();
  for (auto& [user, pushes] : by_user) {
    RedisValue reply = std::move((*replies)[i++]);
    // Pushes of entries written before these are not queued yet (a request still under way, or
    // one that died): queue them first, from the inbox. Bounded: another request may queue
    // some meanwhile and move the cursor.
    for (int round = 0; Verdict(reply) == "gap" && reply.elements.size() == 2; ++round) {
      if (round == 3) return Status::Unavailable("pushes to " + user + " are busy; retry");
      int64_t cursor = Int(reply.elements[1]);
      auto missing = pool_->Command({"XRANGE", keys::Inbox(user), std::to_string(cursor + 1) + "-0",
                                     std::to_string(pushes.begin()->first - 1) + "-0"});
      if (!missing.ok()) return missing.status();
      for (const RedisValue& e : missing->elements) {
        if (e.elements.size() != 2 || e.elements[1].elements.size() < 2) {
          return Malformed("XRANGE of an inbox");
        }
        pushes[Int(e.elements[0])] = {e.elements[1].elements[1].str, ""};
      }
      auto again = EvalEach(queue_pushes_, {call(user, pushes)});
      if (!again.ok()) return again.status();
      reply = std::move((*again)[0]);
    }
    if (Verdict(reply) != "ok") return Malformed("queue_pushes");
  }
  return Status::Ok();
}

}  // namespace courier
