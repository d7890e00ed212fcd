#include "common/redis_message_store.h"

#include <set>

#include "common/keys.h"
#include "common/redis_reply.h"

namespace courier {

using namespace redis_reply;

RedisMessageStore::RedisMessageStore(RedisPool* pool, StorePolicy policy)
    : pool_(pool), policy_(policy) {}

std::string RedisMessageStore::DeliveryStreamOf(const std::string& user_id) const {
  return keys::DeliveryStream(keys::DeliveryShard(user_id, policy_.delivery_shards));
}

Status RedisMessageStore::CreateUser(const NewUser& u) {
  auto r = pool_->Eval(create_user_, {keys::User(u.user_id), keys::InboxMeta(u.user_id)},
                       {u.password_hash, u.display_name, std::to_string(u.created_at_ms), u.epoch});
  if (!r.ok()) return r.status();
  auto verdict = Verdict(*r);
  if (verdict == "ok") return Status::Ok();
  if (verdict == "conflict") return Status::Conflict("user_id " + u.user_id + " is taken");
  return Malformed("create_user");
}

Result<std::string> RedisMessageStore::PasswordHash(const std::string& user_id) {
  auto r = pool_->Command({"HGET", keys::User(user_id), "password"});
  if (!r.ok()) return r.status();
  if (r->is_nil()) return Status::NotFound("no such user");
  if (!r->is_string()) return Malformed("HGET password");
  return std::move(r->str);
}

Status RedisMessageStore::QueueKicks(const std::string& user_id, const RedisValue& reply,
                                     size_t first) {
  // Flat pairs: session id, "<notify> <device> <payload>".
  std::vector<std::vector<std::string>> xadds;
  std::vector<std::string> queued = {"HDEL", keys::KickOutbox(user_id)};
  for (size_t i = first; i + 1 < reply.elements.size(); i += 2) {
    const std::string& sid = reply.elements[i].str;
    const std::string& kick = reply.elements[i + 1].str;
    size_t device_end = kick.find(' ', 2);
    if (kick.size() < 3 || kick[1] != ' ' || device_end == std::string::npos) {
      return Malformed("kick outbox");
    }
    xadds.push_back({"XADD", DeliveryStreamOf(user_id), "MAXLEN", "~",
                     std::to_string(policy_.delivery_stream_max), "*", "u", user_id, "k", "control",
                     "d", kick.substr(2, device_end - 2), "s", sid, "n", kick.substr(0, 1), "p",
                     kick.substr(device_end + 1)});
    queued.push_back(sid);
  }
  if (xadds.empty()) return Status::Ok();
  auto r = pool_->Pipeline(xadds);
  if (!r.ok()) return r.status();
  if (Status s = NoErrorReply(*r, "XADD control"); !s.ok()) return s;
  // Queued: out of the outbox. A crash before this queues them again on the next login or
  // logout (the broker ignores a kick of a session that is no longer connected).
  auto d = pool_->Command(queued);
  if (!d.ok()) return d.status();
  return NoErrorReply({*d}, "HDEL kick outbox");
}

Result<OpenedSession> RedisMessageStore::OpenSession(const NewSession& s) {
  // Step 1, the user's slot: the session, and the replaced one's kick recorded in the outbox.
  auto r = pool_->Eval(
      open_session_,
      {keys::Session(s.user_id, s.session_id), keys::PlatformSession(s.user_id, s.platform),
       keys::KickOutbox(s.user_id)},
      {s.user_id, s.session_id, s.device_id, s.platform, std::to_string(s.expires_at_ms),
       std::to_string(policy_.token_ttl_s), s.kicked_payload});
  if (!r.ok()) return r.status();
  if (Verdict(*r) != "ok" || r->elements.size() < 3) return Malformed("open_session");
  // Step 2, the delivery stream's slot: the kicks; step 3: out of the outbox.
  if (Status k = QueueKicks(s.user_id, *r, 3); !k.ok()) return k;
  OpenedSession out;
  if (!r->elements[1].str.empty()) {
    out.replaced_session_id = r->elements[1].str;
    out.replaced_device_id = r->elements[2].str;
  }
  return out;
}

Status RedisMessageStore::CloseSession(const Caller& c, const std::string& kicked_payload) {
  // Step 1, the user's slot: the session ends, its kick recorded in the outbox.
  auto r = pool_->Eval(
      close_session_, {keys::Session(c.user_id, c.session_id), keys::KickOutbox(c.user_id)},
      {c.user_id, c.session_id, kicked_payload, std::to_string(policy_.token_ttl_s)});
  if (!r.ok()) return r.status();
  auto verdict = Verdict(*r);
  if (verdict != "ok" && verdict != "unauthorized") return Malformed("close_session");
  // Step 2, the delivery stream's slot: the kicks (also those a crashed logout or login left in
  // the outbox, when this session has ended); step 3: out of the outbox.
  if (Status k = QueueKicks(c.user_id, *r, 1); !k.ok()) return k;
  if (verdict == "unauthorized") return Status::Unauthorized("session ended");
  return Status::Ok();
}

Result<SendOutcome> RedisMessageStore::SendDirect(const DirectSend& s, int64_t now_ms) {
  return sends_.Direct(s, now_ms);
}

Result<SyncPage> RedisMessageStore::Sync(const Caller& c, int64_t after, int limit,
                                         const std::string& new_epoch) {
  auto r = pool_->Eval(
      sync_,
      {keys::Session(c.user_id, c.session_id), keys::InboxMeta(c.user_id), keys::Inbox(c.user_id)},
      {std::to_string(after + 1) + "-0", std::to_string(limit), new_epoch});
  if (!r.ok()) return r.status();
  auto verdict = Verdict(*r);
  if (verdict == "unauthorized") return Status::Unauthorized("session ended");
  if (verdict != "ok" || r->elements.size() < 4 || r->elements.size() % 2 != 0) {
    return Malformed("sync");
  }
  SyncPage page;
  page.epoch = r->elements[1].str;
  page.latest_seq = Int(r->elements[2]);
  page.has_more = Int(r->elements[3]) == 1;
  page.next_after = after;
  for (size_t i = 4; i + 1 < r->elements.size(); i += 2) {
    page.next_after = Int(r->elements[i]);
    page.items.push_back(std::move(r->elements[i + 1].str));
  }
  return page;
}

Result<AckOutcome> RedisMessageStore::Ack(const Caller& c, int64_t seq,
                                          const std::string& new_epoch) {
  auto r = pool_->Eval(
      ack_,
      {keys::Session(c.user_id, c.session_id), keys::InboxMeta(c.user_id), keys::Acks(c.user_id)},
      {c.device_id, std::to_string(seq), new_epoch});
  if (!r.ok()) return r.status();
  auto verdict = Verdict(*r);
  if (verdict == "unauthorized") return Status::Unauthorized("session ended");
  if (verdict != "ok" || r->elements.size() < 3) return Malformed("ack");
  return AckOutcome{Int(r->elements[1]), r->elements[2].str};
}

Result<HistoryPage> RedisMessageStore::History(const Caller& c, const std::string& conv,
                                               int64_t before, int limit) {
  std::string end = before > 0 ? "(" + std::to_string(before) + "-0" : "+";
  auto r = pool_->Pipeline(
      {{"EXISTS", keys::Session(c.user_id, c.session_id)},
       {"XREVRANGE", keys::ConversationLog(conv), end, "-", "COUNT", std::to_string(limit + 1)},
       {"SMEMBERS", keys::ConversationRecalled(conv)}});
  if (!r.ok()) return r.status();
  if ((*r)[0].integer != 1) return Status::Unauthorized("session ended");
  std::set<std::string> recalled;
  for (const auto& v : (*r)[2].elements) recalled.insert(v.str);
  HistoryPage page;
  auto& entries = (*r)[1].elements;
  page.has_more = entries.size() > static_cast<size_t>(limit);
  for (size_t i = 0; i < entries.size() && i < static_cast<size_t>(limit); ++i) {
    auto& e = entries[i];
    if (e.elements.size() != 2 || e.elements[1].elements.size() < 2) continue;
    std::string& item = e.elements[1].elements[1].str;
    std::string conv_seq = e.elements[0].str.substr(0, e.elements[0].str.find('-'));
    page.items.push_back(recalled.count(conv_seq) ? RecalledForm(item) : std::move(item));
  }
  return page;
}

Result<std::map<std::string, PresenceState>> RedisMessageStore::Presence(
    const Caller& c, const std::vector<std::string>& user_ids, int64_t now_ms) {
  std::vector<std::vector<std::string>> cmds;
  cmds.push_back({"EXISTS", keys::Session(c.user_id, c.session_id)});
  for (const auto& u : user_ids) {
    cmds.push_back({"HVALS", keys::Online(u)});
    cmds.push_back({"GET", keys::LastSeen(u)});
  }
  auto r = pool_->Pipeline(cmds);
  if (!r.ok()) return r.status();
  if ((*r)[0].integer != 1) return Status::Unauthorized("session ended");
  std::map<std::string, PresenceState> out;
  for (size_t i = 0; i < user_ids.size(); ++i) {
    const RedisValue& until = (*r)[1 + 2 * i];
    const RedisValue& seen = (*r)[2 + 2 * i];
    PresenceState p;
    for (const auto& v : until.elements) p.online |= Int(v) > now_ms;
    p.last_seen_ms = p.online ? now_ms : Int(seen);
    out[user_ids[i]] = p;
  }
  return out;
}

Status RedisMessageStore::Ping() {
  auto r = pool_->Command({"PING"});
  return r.ok() ? Status::Ok() : r.status();
}

}  // namespace courier
