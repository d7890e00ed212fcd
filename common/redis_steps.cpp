#include "common/redis_steps.h"

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

Result<std::vector<InboxEntry>> RedisSteps::PutInboxes(const std::vector<InboxWrite>& writes,
                                                       int64_t now_ms) {
  auto args = [&](const InboxWrite& w) {
    return std::vector<std::string>{w.user,
                                    w.epoch_candidate,
                                    w.rest,
                                    std::to_string(now_ms),
                                    std::to_string(policy_->cmid_window_s),
                                    std::to_string(policy_->inbox_max_entries),
                                    std::to_string(policy_->inbox_retention_ms),
                                    w.conv,
                                    std::to_string(w.conv_seq),
                                    w.from};
  };
  // EVALSHA, pipelined (one round trip per Redis node).
  std::vector<std::vector<std::string>> cmds;
  for (const InboxWrite& w : writes) {
    std::vector<std::string> cmd = {"EVALSHA", inbox_op_.sha1(), "1",
                                    keys::Operation(w.user, w.op)};
    for (auto& a : args(w)) cmd.push_back(std::move(a));
    cmds.push_back(std::move(cmd));
  }
  std::vector<RedisValue> replies;
  if (!cmds.empty()) {
    auto r = pool_->Pipeline(cmds);
    if (!r.ok()) return r.status();
    replies = std::move(*r);
  }
  std::vector<InboxEntry> out;
  for (size_t i = 0; i < writes.size(); ++i) {
    RedisValue& v = replies[i];
    if (v.type == RedisValue::Type::kError && v.str.rfind("NOSCRIPT", 0) == 0) {
      // Not loaded on that node yet (a restarted Redis, another node of a cluster): it did not
      // run, so run it again with a load.
      auto again =
          pool_->Eval(inbox_op_, {keys::Operation(writes[i].user, writes[i].op)}, args(writes[i]));
      if (!again.ok()) return again.status();
      v = std::move(*again);
    }
    if (v.type == RedisValue::Type::kError) return Status::Internal("inbox_op: " + v.str);
    if (!v.is_array() || v.elements.size() != 2) return Malformed("inbox_op");
    out.push_back(InboxEntry{writes[i].user, Int(v.elements[0]), v.elements[1].str});
  }
  return out;
}

std::vector<std::string> RedisSteps::PushCommand(const std::string& user,
                                                 const std::string& envelope, int shards,
                                                 int64_t stream_max) {
  return {"XADD",
          keys::DeliveryStream(keys::DeliveryShard(user, shards)),
          "MAXLEN",
          "~",
          std::to_string(stream_max),
          "*",
          "u",
          user,
          "k",
          "inbox",
          "p",
          envelope};
}

Status RedisSteps::QueuePushes(const std::vector<InboxEntry>& entries) {
  std::vector<std::vector<std::string>> cmds;
  for (const InboxEntry& e : entries) {
    if (e.envelope.empty()) continue;
    cmds.push_back(
        PushCommand(e.user, e.envelope, policy_->delivery_shards, policy_->delivery_stream_max));
  }
  if (cmds.empty()) return Status::Ok();
  auto r = pool_->Pipeline(cmds);
  if (!r.ok()) return r.status();
  for (const auto& v : *r) {
    if (v.type == RedisValue::Type::kError) return Status::Internal("redis XADD: " + v.str);
  }
  return Status::Ok();
}

}  // namespace courier
