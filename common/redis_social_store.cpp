#include "common/redis_social_store.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/ids.h"
#include "common/keys.h"
#include "common/redis_reply.h"

namespace courier {

using namespace redis_reply;

namespace {

std::string GroupConv(const std::string& gid) { return "g:" + gid; }
std::string RoomConv(const std::string& rid) { return "r:" + rid; }

// A notification for `user`'s inbox, written once per operation `op`.
InboxWrite NotificationWrite(const std::string& user, std::string op, const std::string& rest,
                             const Notice& n) {
  InboxWrite w;
  w.user = user;
  w.op = std::move(op);
  w.epoch_candidate = n.epoch;
  w.rest = rest;
  return w;
}

}  // namespace

RedisSocialStore::RedisSocialStore(RedisPool* pool, StorePolicy policy)
    : pool_(pool), policy_(std::move(policy)) {}

std::string RedisSocialStore::DeliveryStreamOf(const std::string& id) const {
  return keys::DeliveryStream(keys::DeliveryShard(id, policy_.delivery_shards));
}

std::string RedisSocialStore::FanoutStreamOf(const std::string& conv) const {
  return keys::FanoutStream(keys::DeliveryShard(conv, policy_.delivery_shards));
}

std::vector<std::string> RedisSocialStore::InboxSettings() const {
  return {std::to_string(policy_.inbox_max_entries), std::to_string(policy_.inbox_retention_ms),
          std::to_string(policy_.delivery_stream_max)};
}

Status RedisSocialStore::QueueFanout(const std::string& conv, const RedisValue& reply) {
  int64_t fseq = reply.is_array() && reply.elements.size() >= 2 ? Int(reply.elements[1]) : 0;
  if (fseq <= 0) return Status::Ok();
  auto r = pool_->Command({"XADD", FanoutStreamOf(conv), "MAXLEN", "~",
                           std::to_string(policy_.delivery_stream_max), "*", "k", "feed", "c", conv,
                           "f", std::to_string(fseq)});
  if (!r.ok()) return r.status();
  return NoErrorReply({*r}, "XADD fan-out task");
}

Result<RedisValue> RedisSocialStore::Run(const RedisScript& script,
                                         const std::vector<std::string>& keys,
                                         const std::vector<std::string>& args,
                                         const std::string& not_found) {
  auto r = pool_->Eval(script, keys, args);
  if (!r.ok()) return r.status();
  auto verdict = Verdict(*r);
  if (verdict == "ok" || verdict == "dup") return r;
  return VerdictStatus(verdict, script.name(), not_found);
}

Result<std::vector<RedisValue>> RedisSocialStore::ReadAs(
    const Caller& c, std::vector<std::vector<std::string>> commands) {
  commands.insert(commands.begin(), {"EXISTS", keys::Session(c.user_id, c.session_id)});
  auto r = pool_->Pipeline(commands);
  if (!r.ok()) return r.status();
  if ((*r)[0].integer != 1) return Status::Unauthorized("session ended");
  for (const auto& v : *r) {
    if (v.type == RedisValue::Type::kError) return Status::Internal("redis: " + v.str);
  }
  r->erase(r->begin());
  return r;
}

// ---- Groups ---------------------------------------------------------------------------------

Status RedisSocialStore::CreateGroup(const Caller& c, const NewGroup& g) {
  // Step 1, reads pipelined across slots: the session, the id, the members.
  std::vector<std::vector<std::string>> reads = {{"EXISTS", keys::Group(g.group_id)}};
  for (const auto& m : g.members) reads.push_back({"EXISTS", keys::User(m)});
  auto found = ReadAs(c, std::move(reads));
  if (!found.ok()) return found.status();
  // A taken id goes on to step 2, which answers conflict (its check is the one that counts: two
  // creators may race) and tells whether a fan-out task is due — one a crashed try of this
  // creation may have left unqueued.
  for (size_t i = 0; (*found)[0].integer != 1 && i < g.members.size(); ++i) {
    if ((*found)[i + 1].integer != 1) return Status::NotFound("no such user: " + g.members[i]);
  }
  // Step 2, the group's slot.
  std::string conv = GroupConv(g.group_id);
  std::vector<std::string> args = {g.name, c.user_id, std::to_string(g.now_ms), g.created_rest};
  args.insert(args.end(), g.members.begin(), g.members.end());
  auto r = pool_->Eval(
      create_group_,
      {keys::Group(g.group_id), keys::GroupMembers(g.group_id), keys::GroupJoined(g.group_id),
       keys::ConversationMeta(conv), keys::GroupFeed(g.group_id)},
      args);
  if (!r.ok()) return r.status();
  // Step 3: the fan-out task.
  if (Status s = QueueFanout(conv, *r); !s.ok()) return s;
  auto verdict = Verdict(*r);
  if (verdict == "ok") return Status::Ok();
  if (verdict == "conflict") return Status::Conflict("group_id " + g.group_id + " is taken");
  return VerdictStatus(verdict, "create_group", "not found");
}

Result<GroupInfo> RedisSocialStore::GetGroup(const Caller& c, const std::string& gid) {
  auto r = ReadAs(c, {{"HGETALL", keys::Group(gid)},
                      {"HGETALL", keys::GroupMembers(gid)},
                      {"HGETALL", keys::GroupJoined(gid)}});
  if (!r.ok()) return r.status();
  const auto& group = (*r)[0].elements;
  if (group.empty()) return Status::NotFound("no such group: " + gid);
  GroupInfo info;
  info.group_id = gid;
  for (size_t i = 0; i + 1 < group.size(); i += 2) {
    if (group[i].str == "name") info.name = group[i + 1].str;
    if (group[i].str == "owner") info.owner = group[i + 1].str;
    if (group[i].str == "created_at") info.created_at_ms = Int(group[i + 1]);
  }
  std::map<std::string, int64_t> joined;
  const auto& j = (*r)[2].elements;
  for (size_t i = 0; i + 1 < j.size(); i += 2) joined[j[i].str] = Int(j[i + 1]);
  const auto& m = (*r)[1].elements;
  for (size_t i = 0; i + 1 < m.size(); i += 2) {
    info.members.push_back({m[i].str, m[i + 1].str, joined[m[i].str]});
  }
  std::sort(info.members.begin(), info.members.end(),
            [](const GroupMember& a, const GroupMember& b) {
              bool a_owner = a.role == "owner", b_owner = b.role == "owner";
              if (a_owner != b_owner) return a_owner;
              if (a.joined_fseq != b.joined_fseq) return a.joined_fseq < b.joined_fseq;
              return a.user_id < b.user_id;
            });
  return info;
}

Result<std::vector<std::string>> RedisSocialStore::AddMembers(
    const Caller& c, const std::string& gid,
    const std::vector<std::pair<std::string, std::string>>& users, int max_members) {
  // Step 1, reads pipelined across slots, answered in the order the checks have always had: the
  // session, the group, the caller's role, the users.
  std::vector<std::vector<std::string>> reads = {{"EXISTS", keys::Group(gid)},
                                                 {"HGET", keys::GroupMembers(gid), c.user_id}};
  for (const auto& [user, rest] : users) reads.push_back({"EXISTS", keys::User(user)});
  auto found = ReadAs(c, std::move(reads));
  if (!found.ok()) return found.status();
  if ((*found)[0].integer != 1) return Status::NotFound("no such group: " + gid);
  const RedisValue& role = (*found)[1];
  if (!role.is_string()) return VerdictStatus("not_member", "add_members", "");
  if (role.str != "owner" && role.str != "admin") {
    return Status::Forbidden("only the owner and admins add members");
  }
  for (size_t i = 0; i < users.size(); ++i) {
    if ((*found)[i + 2].integer != 1) return Status::NotFound("no such user: " + users[i].first);
  }
  // Step 2, the group's slot: the role again (atomic with the change), the new members.
  std::string conv = GroupConv(gid);
  std::vector<std::string> args = {c.user_id, std::to_string(max_members)};
  for (const auto& [user, rest] : users) {
    args.push_back(user);
    args.push_back(rest);
  }
  auto r = pool_->Eval(add_members_,
                       {keys::Group(gid), keys::GroupMembers(gid), keys::GroupJoined(gid),
                        keys::ConversationMeta(conv), keys::GroupFeed(gid)},
                       args);
  if (!r.ok()) return r.status();
  // Step 3: the fan-out task.
  if (Status s = QueueFanout(conv, *r); !s.ok()) return s;
  auto verdict = Verdict(*r);
  if (verdict == "ok") {
    std::vector<std::string> added;
    for (size_t i = 2; i < r->elements.size(); ++i) added.push_back(r->elements[i].str);
    return added;
  }
  if (verdict == "conflict") {
    return Status::Conflict("a group has at most " + std::to_string(max_members) + " members");
  }
  if (verdict == "forbidden") return Status::Forbidden("only the owner and admins add members");
  return VerdictStatus(verdict, "add_members", "no such group: " + gid);
}

Status RedisSocialStore::RemoveMember(const Caller& c, const std::string& gid,
                                      const std::string& target, const std::string& rest,
                                      int64_t now_ms) {
  // Step 1, the caller's slot; step 2, the group's; step 3, the fan-out task.
  if (Status s = steps_.CheckSession(c); !s.ok()) return s;
  std::string conv = GroupConv(gid);
  auto r = pool_->Eval(remove_member_,
                       {keys::Group(gid), keys::GroupMembers(gid), keys::GroupJoined(gid),
                        keys::GroupLeft(gid), keys::ConversationMeta(conv), keys::GroupFeed(gid)},
                       {gid, c.user_id, target, rest, std::to_string(now_ms)});
  if (!r.ok()) return r.status();
  if (Status s = QueueFanout(conv, *r); !s.ok()) return s;
  auto verdict = Verdict(*r);
  if (verdict == "ok") return Status::Ok();
  if (verdict == "no_such_member") return Status::NotFound(target + " is not a member of " + gid);
  if (verdict == "forbidden") return Status::Forbidden("only the owner removes members");
  return VerdictStatus(verdict, "remove_member", "no such group: " + gid);
}

Status RedisSocialStore::SetRole(const Caller& c, const std::string& gid, const std::string& target,
                                 const std::string& role, int64_t now_ms) {
  // Step 1, the caller's slot; step 2, the group's; step 3, the fan-out task.
  if (Status s = steps_.CheckSession(c); !s.ok()) return s;
  std::string conv = GroupConv(gid);
  auto r = pool_->Eval(set_role_,
                       {keys::Group(gid), keys::GroupMembers(gid), keys::ConversationMeta(conv),
                        keys::GroupFeed(gid)},
                       {gid, c.user_id, target, role, std::to_string(now_ms)});
  if (!r.ok()) return r.status();
  if (Status s = QueueFanout(conv, *r); !s.ok()) return s;
  auto verdict = Verdict(*r);
  if (verdict == "ok") return Status::Ok();
  if (verdict == "no_such_member") return Status::NotFound(target + " is not a member of " + gid);
  if (verdict == "forbidden") {
    return Status::Forbidden("only the owner sets roles, and not their own");
  }
  return VerdictStatus(verdict, "set_role", "no such group: " + gid);
}

Result<SendOutcome> RedisSocialStore::SendGroup(const ConversationSend& s, int64_t now_ms) {
  return sends_.Group(s, now_ms);
}

// ---- Rooms ----------------------------------------------------------------------------------

Status RedisSocialStore::JoinRoom(const Caller& c, const std::string& rid) {
  // Step 1, the caller's slot; step 2, the room's (SADD: a repeat changes nothing).
  if (Status s = steps_.CheckSession(c); !s.ok()) return s;
  auto r = pool_->Command({"SADD", keys::RoomMembers(rid), c.user_id});
  if (!r.ok()) return r.status();
  return NoErrorReply({*r}, "SADD");
}

Status RedisSocialStore::LeaveRoom(const Caller& c, const std::string& rid) {
  // Step 1, the caller's slot; step 2, the room's (SREM: a repeat changes nothing); step 3, the
  // room_leave command in the room's delivery shard, before the reply: the broker stops
  // delivering the room to the user before any room message sent after the leave returned.
  if (Status s = steps_.CheckSession(c); !s.ok()) return s;
  auto left = pool_->Command({"SREM", keys::RoomMembers(rid), c.user_id});
  if (!left.ok()) return left.status();
  if (Status s = NoErrorReply({*left}, "SREM"); !s.ok()) return s;
  auto r = pool_->Command({"XADD", DeliveryStreamOf(RoomConv(rid)), "MAXLEN", "~",
                           std::to_string(policy_.delivery_stream_max), "*", "k", "roomctl", "r",
                           rid, "u", c.user_id});
  if (!r.ok()) return r.status();
  return NoErrorReply({*r}, "XADD roomctl");
}

Result<SendOutcome> RedisSocialStore::SendRoom(const ConversationSend& s, int64_t now_ms) {
  return sends_.Room(s, now_ms);
}

Result<Membership> RedisSocialStore::MembershipOf(const Caller& c, const std::string& conv) {
  auto ref = ParseConversation(conv);
  if (!ref.ok()) return ref.status();
  const std::string& user_id = c.user_id;
  std::vector<std::vector<std::string>> cmds;
  if (ref->kind == ConversationRef::Kind::kGroup) {
    cmds = {{"EXISTS", keys::Group(ref->a)}, {"HEXISTS", keys::GroupMembers(ref->a), user_id}};
  } else if (ref->kind == ConversationRef::Kind::kRoom) {
    // A room exists while it has members.
    cmds = {{"EXISTS", keys::RoomMembers(ref->a)},
            {"SISMEMBER", keys::RoomMembers(ref->a), user_id}};
  } else {
    cmds = {{"EXISTS", keys::Session(c.user_id, c.session_id)}};  // a no-op read
  }
  auto r = ReadAs(c, cmds);
  if (!r.ok()) return r.status();
  if (ref->kind == ConversationRef::Kind::kDirect) {
    return Membership{true, user_id == ref->a || user_id == ref->b};
  }
  return Membership{(*r)[0].integer == 1, (*r)[1].integer == 1};
}

// ---- Friends and blocks ---------------------------------------------------------------------

Result<std::vector<InboxEntry>> RedisSocialStore::PutAnswer(const std::string& requester,
                                                            const std::string& request_id,
                                                            const std::string& rest,
                                                            const Notice& n) {
  return steps_.PutInboxes({NotificationWrite(requester, "answer:" + request_id, rest, n)},
                           n.now_ms);
}

Result<std::string> RedisSocialStore::SendFriendRequest(const Caller& c, const std::string& to,
                                                        const FriendRequestInfo& req,
                                                        const Notice& n) {
  // Step 1, the requester's slot: the session, the friendship, a request of `to`'s to the caller
  // (which this one accepts).
  auto mine = ReadAs(c, {{"HEXISTS", keys::Friends(c.user_id), to},
                         {"HGET", keys::FriendRequestsIn(c.user_id), to}});
  if (!mine.ok()) return mine.status();
  const bool friends = (*mine)[0].integer == 1;
  const std::string theirs = (*mine)[1].is_string() ? (*mine)[1].str : "";
  // Step 2, the target's slot: the target's checks, then the request and its notification, or
  // the target's side of the friendship of a crossed request.
  nlohmann::json stored = {
      {"request_id", req.request_id}, {"from", req.from}, {"note", req.note}, {"ts", req.ts}};
  auto r =
      pool_->Eval(friend_request_,
                  {keys::User(to), keys::Blocks(to), keys::FriendRequests(to),
                   keys::FriendRequestsIn(to), keys::Friends(to)},
                  {c.user_id, to, req.request_id, stored.dump(), n.rest, std::to_string(n.now_ms),
                   n.epoch, std::to_string(policy_.inbox_max_entries),
                   std::to_string(policy_.inbox_retention_ms), friends ? "1" : "0", theirs});
  if (!r.ok()) return r.status();
  auto verdict = Verdict(*r);
  if (verdict == "ok" && r->elements.size() >= 4) {
    // Step 3: the push. A retry after a crash before it finds the request pending ("dup") and
    // pushes nothing: the notification is in the inbox, where a sync finds it.
    Status s = steps_.QueuePushes({InboxEntry{to, Int(r->elements[2]), r->elements[3].str, ""}});
    if (!s.ok()) return s;
    return std::move(r->elements[1].str);
  }
  if (verdict == "dup" && r->elements.size() >= 2) return std::move(r->elements[1].str);
  if (verdict == "accepted" && r->elements.size() >= 2) {
    // Step 3: friend.accepted into the target's inbox, once; step 4: its push. Both before step
    // 5, after which a retry of this request answers 409 (friends already) and does nothing:
    // whatever step 5 leaves undone, the target has been told.
    std::string rest = EncodeNotificationRest(
        "friend.accepted", nlohmann::json{{"request_id", theirs}, {"user_id", c.user_id}}.dump(),
        n.now_ms);
    auto entries = PutAnswer(to, theirs, rest, n);
    if (!entries.ok()) return entries.status();
    if (Status s = steps_.QueuePushes(*entries); !s.ok()) return s;
    // Step 5, the requester's slot: their request consumed, the requester's side of the
    // friendship (no marker: until this step the request is pending, which leads a retry here
    // again). A request answered meanwhile by the caller is gone: nothing left to do.
    auto mine_done =
        pool_->Eval(friend_answer_,
                    {keys::Session(c.user_id, c.session_id), keys::FriendRequests(c.user_id),
                     keys::FriendRequestsIn(c.user_id), keys::Friends(c.user_id),
                     keys::Operation(c.user_id, "answer:" + theirs)},
                    {theirs, "accept", r->elements[1].str, "0"});
    if (!mine_done.ok()) return mine_done.status();
    auto v = Verdict(*mine_done);
    if (v != "ok" && v != "not_found") return VerdictStatus(v, "friend_answer", "");
    return theirs;
  }
  if (verdict == "conflict") return Status::Conflict(to + " is already your friend");
  if (verdict == "blocked") return Status::Blocked(to + " does not accept your requests");
  return VerdictStatus(verdict, "friend_request", "no such user: " + to);
}

Result<std::vector<FriendRequestInfo>> RedisSocialStore::FriendRequests(const Caller& c) {
  auto r = ReadAs(c, {{"HVALS", keys::FriendRequests(c.user_id)}});
  if (!r.ok()) return r.status();
  std::vector<FriendRequestInfo> out;
  for (const auto& v : (*r)[0].elements) {
    auto j = nlohmann::json::parse(v.str, nullptr, false);
    if (!j.is_object()) continue;
    out.push_back({j.value("request_id", ""), j.value("from", ""), j.value("note", ""),
                   j.value("ts", int64_t{0})});
  }
  std::sort(out.begin(), out.end(), [](const FriendRequestInfo& a, const FriendRequestInfo& b) {
    return a.ts != b.ts ? a.ts < b.ts : a.request_id < b.request_id;
  });
  return out;
}

Status RedisSocialStore::AnswerFriendRequest(const Caller& c, const std::string& rid, bool accept,
                                             const Notice& n) {
  // Step 1, the caller's slot: the session; the request consumed, the caller's side of the
  // friendship and the answer recorded in a marker, all at once. A retry while the marker is
  // there gets the recorded answer and completes the steps after it.
  std::string marker = keys::Operation(c.user_id, "answer:" + rid);
  auto r = Run(friend_answer_,
               {keys::Session(c.user_id, c.session_id), keys::FriendRequests(c.user_id),
                keys::FriendRequestsIn(c.user_id), keys::Friends(c.user_id), marker},
               {rid, accept ? "accept" : "reject", std::to_string(n.now_ms),
                std::to_string(policy_.cmid_window_s)},
               "no such friend request: " + rid);
  if (!r.ok()) return r.status();
  if (r->elements.size() < 3) return Malformed("friend_answer");
  const std::string& from = r->elements[1].str;
  const std::string& since = r->elements[2].str;
  // Step 2, the requester's slot: their side of the friendship (HSETNX: a repeat changes
  // nothing).
  if (accept) {
    auto f = pool_->Command({"HSETNX", keys::Friends(from), c.user_id, since});
    if (!f.ok()) return f.status();
    if (Status s = NoErrorReply({*f}, "HSETNX"); !s.ok()) return s;
  }
  // Step 3: the answer into the requester's inbox, once; step 4: its push.
  auto entries = PutAnswer(from, rid, n.rest, n);
  if (!entries.ok()) return entries.status();
  if (Status s = steps_.QueuePushes(*entries); !s.ok()) return s;
  // Step 5: done; a repeat now finds no request (404), as it always has.
  auto d = pool_->Command({"DEL", marker});
  if (!d.ok()) return d.status();
  return NoErrorReply({*d}, "DEL");
}

Result<std::vector<FriendInfo>> RedisSocialStore::Friends(const Caller& c) {
  auto r = ReadAs(c, {{"HGETALL", keys::Friends(c.user_id)}});
  if (!r.ok()) return r.status();
  std::vector<FriendInfo> out;
  const auto& f = (*r)[0].elements;
  for (size_t i = 0; i + 1 < f.size(); i += 2) out.push_back({f[i].str, Int(f[i + 1])});
  std::sort(out.begin(), out.end(),
            [](const FriendInfo& a, const FriendInfo& b) { return a.user_id < b.user_id; });
  return out;
}

Status RedisSocialStore::RemoveFriend(const Caller& c, const std::string& other, const Notice& n) {
  if (n.op.empty()) return Status::Internal("RemoveFriend needs an operation id");
  // Step 1, the caller's slot: the session; the caller's side ended and the operation recorded
  // in a marker. A retry while the marker is there completes the steps after it.
  std::string marker = keys::Operation(c.user_id, "unfriend:" + other);
  auto r = Run(friend_remove_,
               {keys::Session(c.user_id, c.session_id), keys::Friends(c.user_id), marker},
               {other, n.op, std::to_string(policy_.cmid_window_s)}, other + " is not your friend");
  if (!r.ok()) return r.status();
  if (r->elements.size() < 2) return Malformed("friend_remove");
  const std::string& op = r->elements[1].str;
  // Step 2, the other user's slot: their side (HDEL: a repeat changes nothing).
  auto d = pool_->Command({"HDEL", keys::Friends(other), c.user_id});
  if (!d.ok()) return d.status();
  if (Status s = NoErrorReply({*d}, "HDEL"); !s.ok()) return s;
  // Step 3: friend.removed into their inbox, once; step 4: its push.
  auto entries = steps_.PutInboxes({NotificationWrite(other, op, n.rest, n)}, n.now_ms);
  if (!entries.ok()) return entries.status();
  if (Status s = steps_.QueuePushes(*entries); !s.ok()) return s;
  // Step 5: done; a repeat now finds no friendship (404), as it always has.
  auto done = pool_->Command({"DEL", marker});
  if (!done.ok()) return done.status();
  return NoErrorReply({*done}, "DEL");
}

Status RedisSocialStore::SetBlocked(const Caller& c, const std::string& other, bool blocked) {
  if (blocked) {
    // Step 1, pipelined reads: the session, then that the other user exists (their slot).
    auto found = ReadAs(c, {{"EXISTS", keys::User(other)}});
    if (!found.ok()) return found.status();
    if ((*found)[0].integer != 1) return Status::NotFound("no such user: " + other);
  }
  // Step 2, the caller's slot (SADD / SREM: a repeat changes nothing).
  auto r = Run(block_, {keys::Session(c.user_id, c.session_id), keys::Blocks(c.user_id)},
               {blocked ? "add" : "remove", other}, "");
  return r.ok() ? Status::Ok() : r.status();
}

Result<std::vector<std::string>> RedisSocialStore::Blocks(const Caller& c) {
  auto r = ReadAs(c, {{"SMEMBERS", keys::Blocks(c.user_id)}});
  if (!r.ok()) return r.status();
  std::vector<std::string> out;
  for (auto& v : (*r)[0].elements) out.push_back(std::move(v.str));
  std::sort(out.begin(), out.end());
  return out;
}

// ---- Conversations --------------------------------------------------------------------------

Result<std::vector<ConversationSummary>> RedisSocialStore::Conversations(const Caller& c,
                                                                         int limit) {
  auto r =
      ReadAs(c, {{"ZREVRANGE", keys::Conversations(c.user_id), "0", std::to_string(limit - 1)}});
  if (!r.ok()) return r.status();
  std::vector<std::string> convs;
  for (auto& v : (*r)[0].elements) convs.push_back(std::move(v.str));
  if (convs.empty()) return std::vector<ConversationSummary>{};
  std::vector<std::string> last = {"HMGET", keys::ConversationLast(c.user_id)};
  std::vector<std::string> unread = {"HMGET", keys::ConversationUnread(c.user_id)};
  last.insert(last.end(), convs.begin(), convs.end());
  unread.insert(unread.end(), convs.begin(), convs.end());
  auto d = pool_->Pipeline({last, unread});
  if (!d.ok()) return d.status();
  std::vector<ConversationSummary> out;
  std::vector<std::vector<std::string>> recalled;  // is each `last` recalled?
  for (size_t i = 0; i < convs.size(); ++i) {
    const RedisValue& env = (*d)[0].elements.at(i);
    if (!env.is_string()) continue;
    auto j = nlohmann::json::parse(env.str, nullptr, false);
    int64_t conv_seq = j.is_object() ? j.value("conv_seq", int64_t{0}) : 0;
    out.push_back({convs[i], env.str, std::max<int64_t>(0, Int((*d)[1].elements.at(i)))});
    recalled.push_back(
        {"SISMEMBER", keys::ConversationRecalled(convs[i]), std::to_string(conv_seq)});
  }
  if (recalled.empty()) return out;
  auto flags = pool_->Pipeline(recalled);
  if (!flags.ok()) return flags.status();
  for (size_t i = 0; i < out.size(); ++i) {
    if ((*flags)[i].integer == 1) out[i].last = RecalledForm(out[i].last);
  }
  return out;
}

Result<int64_t> RedisSocialStore::MarkRead(const Caller& c, const std::string& conv,
                                           const std::string& other, int64_t conv_seq,
                                           const std::string& epoch, int64_t now_ms) {
  // Steps (docs/design.md, "Cross-slot operations"): the conversation's newest conv_seq (and,
  // in a group, the caller's membership); the caller's mark; the receipt to the others. The
  // receipt's step is idempotent per (caller, conv, mark), so a retry after a crash sends the
  // receipt the first attempt did not, and never twice.
  bool group = conv.rfind("g:", 0) == 0;
  std::string gid = group ? conv.substr(2) : "";
  std::vector<std::vector<std::string>> reads = {{"HGET", keys::ConversationMeta(conv), "seq"}};
  if (group) reads.push_back({"HEXISTS", keys::GroupMembers(gid), c.user_id});
  auto read = pool_->Pipeline(reads);
  if (!read.ok()) return read.status();
  if (group && Int((*read)[1]) != 1) {
    if (Status s = steps_.CheckSession(c); !s.ok()) return s;
    return Status::NotMember("not a member of this conversation");
  }
  int64_t upto = std::min(conv_seq, Int((*read)[0]));

  auto r = Run(read_mark_,
               {keys::Session(c.user_id, c.session_id), keys::ConversationRead(c.user_id),
                keys::ConversationLast(c.user_id), keys::ConversationUnread(c.user_id)},
               {conv, std::to_string(upto)}, "no such conversation: " + conv);
  if (!r.ok()) return r.status();
  if (r->elements.size() < 2) return Malformed("read_mark");
  int64_t mark = Int(r->elements[1]);
  if (mark != upto || upto <= 0) return mark;  // the mark did not move to `upto`: no receipt

  std::string rest = "\"type\":\"notification\",\"event\":\"receipt.read\",\"data\":{\"conv\":\"" +
                     conv + "\",\"user_id\":\"" + c.user_id +
                     "\",\"conv_seq\":" + std::to_string(upto) +
                     "},\"ts\":" + std::to_string(now_ms) + "}";
  std::string op = "read:" + c.user_id + ":" + std::to_string(upto);
  if (!group) {
    if (other == c.user_id) return mark;
    auto entries = steps_.PutInboxes({{other, op, epoch, rest, "", 0, ""}}, now_ms);
    if (!entries.ok()) return entries.status();
    if (Status s = steps_.QueuePushes(*entries); !s.ok()) return s;
    return mark;
  }
  if (Status s = GroupNote(c, conv, gid, op, rest, c.user_id, ""); !s.ok()) return s;
  return mark;
}

Status RedisSocialStore::GroupNote(const Caller& c, const std::string& conv, const std::string& gid,
                                   const std::string& op, const std::string& rest,
                                   const std::string& skip, const std::string& recalled_conv_seq) {
  std::vector<std::string> note_keys = {keys::GroupMembers(gid), keys::ConversationMeta(conv),
                                        keys::GroupFeed(gid),
                                        keys::ConversationOperation(conv, op)};
  std::vector<std::string> args = {c.user_id, rest, skip, std::to_string(policy_.cmid_window_s)};
  if (!recalled_conv_seq.empty()) {
    note_keys.push_back(keys::ConversationRecalled(conv));
    args.push_back(recalled_conv_seq);
  }
  auto r = Run(group_note_, note_keys, args, "no such group: " + gid);
  if (!r.ok()) return r.status();
  if (r->elements.size() < 2) return Malformed("group_note");
  // The fan-out task (a repeated one finds the work done).
  auto t = pool_->Command({"XADD", FanoutStreamOf(conv), "MAXLEN", "~",
                           std::to_string(policy_.delivery_stream_max), "*", "k", "feed", "c", conv,
                           "f", std::to_string(Int(r->elements[1]))});
  if (!t.ok()) return t.status();
  if (t->type == RedisValue::Type::kError) return Status::Internal("redis XADD: " + t->str);
  return Status::Ok();
}

Result<MessageRef> RedisSocialStore::FindMessage(const Caller& c, const std::string& id) {
  auto found = ReadAs(c, {{"HGETALL", keys::MessageIndex(id)}});
  if (!found.ok()) return found.status();
  RedisValue* r = &(*found)[0];
  if (r->elements.empty()) return Status::NotFound("no such message, or too old to recall: " + id);
  MessageRef m;
  m.id = id;
  const auto& f = r->elements;
  for (size_t i = 0; i + 1 < f.size(); i += 2) {
    if (f[i].str == "conv") m.conv = f[i + 1].str;
    if (f[i].str == "conv_seq") m.conv_seq = Int(f[i + 1]);
    if (f[i].str == "from") m.from = f[i + 1].str;
    if (f[i].str == "ts") m.ts = Int(f[i + 1]);
  }
  return m;
}

Status RedisSocialStore::Recall(const Caller& c, const MessageRef& m, const Notice& n) {
  // Steps: the caller's session; the recalled mark and the notification — in a group, one
  // feed entry in the group's slot; one-to-one, the recalled set, then both inboxes. Each step
  // is idempotent per message, so a retry completes what a crash interrupted.
  auto ref = ParseConversation(m.conv);
  if (!ref.ok()) return ref.status();
  if (Status s = steps_.CheckSession(c); !s.ok()) return s;
  std::string op = "recall:" + m.id;
  if (ref->kind == ConversationRef::Kind::kGroup) {
    return GroupNote(c, m.conv, ref->a, op, n.rest, "", std::to_string(m.conv_seq));
  }
  auto added =
      pool_->Command({"SADD", keys::ConversationRecalled(m.conv), std::to_string(m.conv_seq)});
  if (!added.ok()) return added.status();
  if (added->type == RedisValue::Type::kError) return Status::Internal("redis SADD: " + added->str);
  std::vector<InboxWrite> writes = {{ref->a, op, n.epoch, n.rest, "", 0, ""}};
  if (ref->b != ref->a) writes.push_back({ref->b, op, n.epoch, n.rest, "", 0, ""});
  auto entries = steps_.PutInboxes(writes, n.now_ms);
  if (!entries.ok()) return entries.status();
  return steps_.QueuePushes(*entries);
}

// ---- Signals --------------------------------------------------------------------------------

Status RedisSocialStore::Signal(const Caller& c, const Recipient& to, const std::string& conv,
                                const std::string& payload, int64_t now_ms) {
  // Steps: the recipient's side (exists, blocks; a group's membership), read; the sender's
  // (session, policy, rate limit); the push. Nothing is stored, so nothing to make idempotent.
  bool group = to.kind == Recipient::Kind::kGroup;
  std::vector<std::vector<std::string>> reads;
  if (group) {
    reads = {{"HEXISTS", keys::GroupMembers(to.id), c.user_id}, {"EXISTS", keys::Group(to.id)}};
  } else {
    reads = {{"EXISTS", keys::User(to.id)}, {"SISMEMBER", keys::Blocks(to.id), c.user_id}};
  }
  auto read = pool_->Pipeline(reads);
  if (!read.ok()) return read.status();
  if (Status s = NoErrorReply(*read, "signal check"); !s.ok()) return s;
  Status refused = Status::Ok();
  if (group && Int((*read)[0]) != 1) {
    refused = Int((*read)[1]) == 1 ? Status::NotMember("not a member of this conversation")
                                   : Status::NotFound("no such group: " + to.id);
  } else if (!group && Int((*read)[0]) != 1) {
    refused = Status::NotFound("no such user: " + to.id);
  } else if (!group && to.id != c.user_id && Int((*read)[1]) == 1) {
    refused = Status::Blocked("the recipient does not accept your messages");
  }
  if (!refused.ok()) {
    if (Status s = steps_.CheckSession(c); !s.ok()) return s;
    return refused;
  }

  bool friends_only = !group && to.id != c.user_id && policy_.messaging_policy == "friends";
  auto r = pool_->Eval(
      signal_take_,
      {keys::Session(c.user_id, c.session_id), keys::SendRate(c.user_id), keys::Friends(c.user_id)},
      {std::to_string(now_ms), std::to_string(policy_.send_rate_per_s),
       std::to_string(policy_.send_burst), friends_only ? "1" : "0", to.id});
  if (!r.ok()) return r.status();
  if (Verdict(*r) != "ok") {
    // Rate limits and errors read as for a send.
    auto s = SendOutcomeOf(*r, "signal_take", "");
    return s.ok() ? Malformed("signal_take") : s.status();
  }
  std::vector<std::string> push;
  if (group) {
    push = {"XADD",
            FanoutStreamOf(conv),
            "MAXLEN",
            "~",
            std::to_string(policy_.delivery_stream_max),
            "*",
            "k",
            "signal",
            "c",
            conv,
            "x",
            c.user_id,
            "p",
            payload};
  } else {
    push = {"XADD",
            DeliveryStreamOf(to.id),
            "MAXLEN",
            "~",
            std::to_string(policy_.delivery_stream_max),
            "*",
            "u",
            to.id,
            "k",
            "inbox",
            "p",
            payload};
  }
  auto queued = pool_->Command(push);
  if (!queued.ok()) return queued.status();
  if (queued->type == RedisValue::Type::kError)
    return Status::Internal("redis XADD: " + queued->str);
  return Status::Ok();
}

}  // namespace courier
