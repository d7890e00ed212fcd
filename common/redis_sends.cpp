#include "common/redis_sends.h"

#include <chrono>
#include <thread>

#include "common/keys.h"
#include "common/redis_reply.h"

namespace courier {

using namespace redis_reply;

namespace {

// Stops a send that has taken too long before its lease runs out, so that no retry resumes it
// while this request is still writing.
class StepClock {
 public:
  StepClock() : start_(std::chrono::steady_clock::now()) {}
  Status Check() const {
    auto elapsed = std::chrono::steady_clock::now() - start_;
    if (elapsed > std::chrono::milliseconds(RedisSends::kStepDeadlineMs)) {
      return Status::Unavailable("the send took too long; retry it with the same cmid");
    }
    return Status::Ok();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

// The message JSON after its '{', with conv_seq spliced in (as the history entry holds it).
std::string RestOf(const std::string& head, int64_t conv_seq, const std::string& tail) {
  return head + ",\"conv_seq\":" + std::to_string(conv_seq) + "," + tail;
}

Status CheckReplies(const std::vector<RedisValue>& replies, std::string_view what) {
  for (const auto& v : replies) {
    if (v.type == RedisValue::Type::kError) {
      return Status::Internal(std::string(what) + ": " + v.str);
    }
  }
  return Status::Ok();
}

}  // namespace

Result<RedisSends::Begun> RedisSends::Begin(const Caller& sender, const std::string& cmid,
                                            const Message& m, const EnvelopeParts& parts,
                                            const std::string& target, bool friends_only,
                                            int64_t now_ms,
                                            const std::vector<std::vector<std::string>>& with,
                                            std::vector<RedisValue>* with_replies) {
  const std::string& from = sender.user_id;
  // A concurrent request with this cmid is working on it: wait for its answer (a send takes
  // milliseconds), or for its lease to end (it died), but not past the step deadline.
  StepClock clock;
  Result<RedisValue> r = Status::Unavailable("not run");
  for (bool first = true;; first = false) {
    RedisSteps::ScriptCalls call = {
        {{keys::Session(from, sender.session_id), keys::Cmid(from, cmid), keys::SendRate(from),
          keys::Friends(from)},
         {m.id, m.conv, std::to_string(now_ms), parts.head, parts.tail, target,
          std::to_string(policy_->cmid_window_s), std::to_string(policy_->send_rate_per_s),
          std::to_string(policy_->send_burst), friends_only ? "1" : "0",
          std::to_string(kLeaseMs)}}};
    auto replies =
        steps_.EvalAfter(first ? with : std::vector<std::vector<std::string>>{}, begin_, call);
    if (!replies.ok()) {
      r = replies.status();
      break;
    }
    if (first && with_replies != nullptr) {
      with_replies->assign(std::make_move_iterator(replies->begin()),
                           std::make_move_iterator(replies->end() - 1));
    }
    r = std::move(replies->back());
    if (Verdict(*r) != "busy" || !clock.Check().ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    now_ms += 10;
  }
  if (!r.ok()) return r.status();
  auto verdict = Verdict(*r);
  const auto& e = r->elements;
  if (verdict == "ok") return Begun{Opened{m.id, m.conv, now_ms, parts.head, parts.tail, false}};
  if (verdict == "resume" && e.size() == 6) {
    return Begun{Opened{e[1].str, e[2].str, Int(e[3]), e[4].str, e[5].str, true}};
  }
  if (verdict == "dup" && e.size() == 5) {
    return Begun{SendOutcome{e[1].str, e[2].str, Int(e[3]), Int(e[4]), true}};
  }
  if (verdict == "busy") {
    return Status::Unavailable("an earlier request with this cmid is still being processed");
  }
  // rate_limited, unauthorized, not_friends.
  auto s = SendOutcomeOf(*r, "send_begin", "");
  return s.ok() ? Status::Internal("unexpected reply from script send_begin") : s.status();
}

std::vector<std::string> RedisSends::IndexCommand(const Opened& o, int64_t conv_seq,
                                                  const std::string& from, bool expire) const {
  if (expire) {
    return {"PEXPIRE", keys::MessageIndex(o.id),
            std::to_string(policy_->recall_window_ms + kMessageIndexGraceMs)};
  }
  return {"HSET",     keys::MessageIndex(o.id), "conv", o.conv,
          "conv_seq", std::to_string(conv_seq), "from", from,
          "ts",       std::to_string(o.ts)};
}

Result<SendOutcome> RedisSends::Finish(const Caller& sender, const std::string& cmid,
                                       const Opened& o, int64_t conv_seq,
                                       const std::vector<std::vector<std::string>>& commands) {
  if (!commands.empty()) {
    auto r = pool_->Pipeline(commands);
    if (!r.ok()) return r.status();
    if (Status s = CheckReplies(*r, "send"); !s.ok()) return s;
  }
  auto r = pool_->Eval(end_, {keys::Cmid(sender.user_id, cmid)}, {o.id, std::to_string(conv_seq)});
  if (!r.ok()) return r.status();
  auto verdict = Verdict(*r);
  if (verdict != "ok" && verdict != "gone") return Malformed("send_end");
  return SendOutcome{o.id, o.conv, conv_seq, o.ts, o.resumed};
}

Status RedisSends::Abort(const Caller& sender, const std::string& cmid, const Opened& o) {
  auto r = pool_->Eval(abort_, {keys::Cmid(sender.user_id, cmid), keys::SendRate(sender.user_id)},
                       {o.id, std::to_string(policy_->send_burst)});
  return r.ok() ? Status::Ok() : r.status();
}

Result<std::vector<InboxEntry>> RedisSends::CopyDirect(
    const std::string& conv, const std::vector<std::pair<std::string, std::string>>& users,
    int64_t conv_seq, const std::string& from, const std::string& rest, int64_t now_ms) {
  struct LogEntry {
    int64_t conv_seq;
    std::string from;
    std::string rest;
  };
  auto call = [&](const std::string& user, const std::string& epoch,
                  const std::vector<LogEntry>& entries) {
    std::vector<std::string> args = {user,
                                     conv,
                                     epoch,
                                     std::to_string(now_ms),
                                     std::to_string(policy_->inbox_max_entries),
                                     std::to_string(policy_->inbox_retention_ms)};
    for (const LogEntry& e : entries) {
      args.insert(args.end(), {std::to_string(e.conv_seq), e.from, e.rest});
    }
    return std::make_pair(std::vector<std::string>{keys::FanIn(user)}, std::move(args));
  };
  const std::vector<LogEntry> mine = {{conv_seq, from, rest}};
  RedisSteps::ScriptCalls calls;
  for (const auto& [user, epoch] : users) calls.push_back(call(user, epoch, mine));
  auto replies = steps_.EvalEach(direct_fanin_, calls);
  if (!replies.ok()) return replies.status();

  std::vector<InboxEntry> out;
  for (size_t u = 0; u < users.size(); ++u) {
    RedisValue reply = std::move((*replies)[u]);
    // An inbox behind: copy the history from its cursor on. Another send may move the cursor
    // meanwhile, so a few rounds at most.
    for (int round = 0; Verdict(reply) == "gap" && reply.elements.size() == 2; ++round) {
      if (round == 3) return Status::Unavailable("conversation " + conv + " is busy; retry");
      int64_t cursor = Int(reply.elements[1]);
      auto log =
          pool_->Command({"XRANGE", keys::ConversationLog(conv), std::to_string(cursor + 1) + "-0",
                          std::to_string(conv_seq) + "-0"});
      if (!log.ok()) return log.status();
      std::vector<LogEntry> behind;
      for (const RedisValue& e : log->elements) {
        if (e.elements.size() != 2) return Malformed("XRANGE of a conversation");
        LogEntry entry{Int(e.elements[0]), "", ""};  // "<conv_seq>-0" reads as conv_seq
        const auto& f = e.elements[1].elements;
        for (size_t i = 0; i + 1 < f.size(); i += 2) {
          if (f[i].str == "e" && !f[i + 1].str.empty()) entry.rest = f[i + 1].str.substr(1);
          if (f[i].str == "f") entry.from = f[i + 1].str;
        }
        behind.push_back(std::move(entry));
      }
      auto again = steps_.EvalEach(direct_fanin_, {call(users[u].first, users[u].second, behind)});
      if (!again.ok()) return again.status();
      reply = std::move((*again)[0]);
    }
    if (Verdict(reply) != "ok" || reply.elements.size() % 2 != 1) return Malformed("direct_fanin");
    for (size_t i = 1; i + 1 < reply.elements.size(); i += 2) {
      out.push_back(InboxEntry{users[u].first, Int(reply.elements[i]),
                               std::move(reply.elements[i + 1].str), ""});
    }
  }
  return out;
}

Result<SendOutcome> RedisSends::Direct(const DirectSend& s, int64_t now_ms) {
  StepClock clock;
  const std::string& from = s.sender.user_id;
  const std::string& to = s.recipient;
  // The recipient's side, read in send_begin's round trip: a send to an unknown user, or to
  // one who blocked the sender, is refused and leaves nothing behind (an opened record is
  // aborted). A retry of a send accepted before gets its original answer, and one resumed
  // after its first write is finished. (A block that lands while a send is under way does not
  // stop it.)
  std::vector<std::vector<std::string>> check = {{"EXISTS", keys::User(to)}};
  if (to != from) check.push_back({"SISMEMBER", keys::Blocks(to), from});
  std::vector<RedisValue> checked;
  auto begun = Begin(s.sender, s.cmid, s.message, s.parts, to,
                     policy_->messaging_policy == "friends" && to != from, now_ms, check, &checked);
  if (checked.size() != check.size()) return begun.ok() ? Malformed("send check") : begun.status();
  if (Status st = CheckReplies(checked, "send check"); !st.ok()) return st;
  Status refusal = Status::Ok();
  if (Int(checked[0]) != 1) {
    refusal = Status::NotFound("no such user: " + to);
  } else if (checked.size() > 1 && Int(checked[1]) == 1) {
    refusal = Status::Blocked("the recipient does not accept your messages");
  }
  if (!refusal.ok()) {
    if (!begun.ok()) {
      // Refused by send_begin too: the session's end comes first; a rate limit or the messaging
      // policy (nothing taken) give way to the refusal.
      auto code = begun.status().code();
      return code == Status::Code::kRateLimited || code == Status::Code::kForbidden
                 ? refusal
                 : begun.status();
    }
    if (const auto* o = std::get_if<Opened>(&*begun)) {
      bool written = false;
      if (o->resumed) {
        auto marker = pool_->Command({"EXISTS", keys::ConversationOperation(o->conv, o->id)});
        if (!marker.ok()) return marker.status();
        written = Int(*marker) == 1;
      }
      if (!written) {
        if (Status st = Abort(s.sender, s.cmid, *o); !st.ok()) return st;
        return refusal;
      }
    }
  }
  if (!begun.ok()) return begun.status();
  if (auto* done = std::get_if<SendOutcome>(&*begun)) return *done;
  const Opened& o = std::get<Opened>(*begun);

  if (Status st = clock.Check(); !st.ok()) return st;
  auto seq = pool_->Eval(conv_append_,
                         {keys::ConversationMeta(o.conv), keys::ConversationLog(o.conv),
                          keys::ConversationOperation(o.conv, o.id)},
                         {o.head, o.tail, std::to_string(policy_->cmid_window_s), from});
  if (!seq.ok()) return seq.status();
  if (!seq->is_integer()) return Malformed("conv_append");
  int64_t conv_seq = seq->integer;

  if (Status st = clock.Check(); !st.ok()) return st;
  std::vector<std::pair<std::string, std::string>> users = {{to, s.recipient_epoch}};
  if (to != from) users.push_back({from, s.sender_epoch});
  auto entries = CopyDirect(o.conv, users, conv_seq, from, RestOf(o.head, conv_seq, o.tail), o.ts);
  if (!entries.ok()) return entries.status();
  if (o.resumed) {
    // The request that stopped may have copied the message but not queued its pushes: offer
    // each inbox's newest entry, and queue_pushes queues every push missing up to it.
    std::vector<std::vector<std::string>> newest;
    for (const auto& [user, epoch] : users) {
      newest.push_back({"XREVRANGE", keys::Inbox(user), "+", "-", "COUNT", "1"});
    }
    auto r = pool_->Pipeline(newest);
    if (!r.ok()) return r.status();
    for (size_t u = 0; u < users.size(); ++u) {
      const auto& found = (*r)[u].elements;
      if (found.size() != 1 || found[0].elements.size() != 2) continue;
      const auto& fields = found[0].elements[1].elements;
      if (fields.size() < 2) continue;
      entries->push_back(InboxEntry{users[u].first, Int(found[0].elements[0]), fields[1].str, ""});
    }
  }
  for (InboxEntry& e : *entries) e.request_id = s.sender.request_id;

  if (Status st = clock.Check(); !st.ok()) return st;
  if (Status st = steps_.QueuePushes(*entries, {IndexCommand(o, conv_seq, from, false),
                                                IndexCommand(o, conv_seq, from, true)});
      !st.ok()) {
    return st;
  }
  return Finish(s.sender, s.cmid, o, conv_seq, {});
}

Result<SendOutcome> RedisSends::Group(const ConversationSend& s, int64_t now_ms) {
  StepClock clock;
  const std::string& from = s.sender.user_id;
  const std::string& gid = s.target_id;
  auto begun = Begin(s.sender, s.cmid, s.message, s.parts, gid, false, now_ms);
  if (!begun.ok()) return begun.status();
  if (auto* done = std::get_if<SendOutcome>(&*begun)) return *done;
  const Opened& o = std::get<Opened>(*begun);

  if (Status st = clock.Check(); !st.ok()) return st;
  auto r = pool_->Eval(group_append_,
                       {keys::Group(gid), keys::GroupMembers(gid), keys::ConversationMeta(o.conv),
                        keys::ConversationLog(o.conv), keys::GroupFeed(gid),
                        keys::ConversationOperation(o.conv, o.id)},
                       {from, o.head, o.tail, std::to_string(policy_->cmid_window_s)});
  if (!r.ok()) return r.status();
  auto verdict = Verdict(*r);
  if (verdict == "not_found" || verdict == "not_member") {
    // Nothing was written in the group: the refusal leaves nothing behind.
    if (Status st = Abort(s.sender, s.cmid, o); !st.ok()) return st;
    return VerdictStatus(verdict, "group_append", "no such group: " + gid);
  }
  if (verdict != "ok" || r->elements.size() != 3) return Malformed("group_append");
  int64_t conv_seq = Int(r->elements[1]);
  int64_t fseq = Int(r->elements[2]);

  if (Status st = clock.Check(); !st.ok()) return st;
  // The fan-out task: the downlink copies the feed, up to and beyond this entry, into the
  // members' inboxes (a repeated task finds the work done).
  std::vector<std::vector<std::string>> commands = {
      {"XADD", keys::FanoutStream(keys::DeliveryShard(o.conv, policy_->delivery_shards)), "MAXLEN",
       "~", std::to_string(policy_->delivery_stream_max), "*", "k", "feed", "c", o.conv, "f",
       std::to_string(fseq)},
      IndexCommand(o, conv_seq, from, false),
      IndexCommand(o, conv_seq, from, true)};
  return Finish(s.sender, s.cmid, o, conv_seq, commands);
}

Result<SendOutcome> RedisSends::Room(const ConversationSend& s, int64_t now_ms) {
  StepClock clock;
  const std::string& from = s.sender.user_id;
  const std::string& rid = s.target_id;
  auto begun = Begin(s.sender, s.cmid, s.message, s.parts, rid, false, now_ms);
  if (!begun.ok()) return begun.status();
  if (auto* done = std::get_if<SendOutcome>(&*begun)) return *done;
  const Opened& o = std::get<Opened>(*begun);

  if (Status st = clock.Check(); !st.ok()) return st;
  auto r = pool_->Eval(room_append_,
                       {keys::RoomMembers(rid), keys::ConversationMeta(o.conv),
                        keys::ConversationLog(o.conv), keys::ConversationOperation(o.conv, o.id)},
                       {from, o.head, o.tail, std::to_string(policy_->cmid_window_s),
                        std::to_string(policy_->room_history_max)});
  if (!r.ok()) return r.status();
  auto verdict = Verdict(*r);
  if (verdict == "not_member") {
    if (Status st = Abort(s.sender, s.cmid, o); !st.ok()) return st;
    return VerdictStatus(verdict, "room_append", "no such room: " + rid);
  }
  if (verdict != "ok" || r->elements.size() != 2) return Malformed("room_append");
  int64_t room_seq = Int(r->elements[1]);

  if (Status st = clock.Check(); !st.ok()) return st;
  // One delivery, in the room's shard (where a leave's room_leave also travels, so the broker
  // stops delivering to a member who left before any later message).
  std::string n = std::to_string(room_seq);
  std::string env = "{" + o.head + ",\"room_seq\":" + n + ",\"conv_seq\":" + n + "," + o.tail;
  std::vector<std::vector<std::string>> commands = {
      {"XADD", keys::DeliveryStream(keys::DeliveryShard(o.conv, policy_->delivery_shards)),
       "MAXLEN", "~", std::to_string(policy_->delivery_stream_max), "*", "k", "room", "r", rid, "u",
       from, "p", env}};
  if (!s.sender.request_id.empty()) {
    commands[0].insert(commands[0].end(), {"req", s.sender.request_id});
  }
  return Finish(s.sender, s.cmid, o, room_seq, commands);
}

}  // namespace courier
