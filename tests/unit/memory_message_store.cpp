#include "tests/unit/memory_message_store.h"

#include <algorithm>

namespace courier::testing {

namespace {

std::string Key(const std::string& a, const std::string& b) { return a + "/" + b; }

const Status kDown = Status::Unavailable("store is down");

}  // namespace

bool MemoryMessageStore::LiveLocked(const Caller& c) const {
  return sessions_.count(Key(c.user_id, c.session_id)) > 0;
}

MemoryMessageStore::Inbox& MemoryMessageStore::InboxLocked(const std::string& user_id,
                                                           const std::string& new_epoch) {
  Inbox& inbox = inboxes_[user_id];
  if (inbox.epoch.empty()) inbox.epoch = new_epoch;
  return inbox;
}

Status MemoryMessageStore::CreateUser(const NewUser& u) {
  std::lock_guard lock(mu_);
  if (down_) return kDown;
  if (passwords_.count(u.user_id)) return Status::Conflict("user_id " + u.user_id + " is taken");
  passwords_[u.user_id] = u.password_hash;
  InboxLocked(u.user_id, u.epoch);
  return Status::Ok();
}

Result<std::string> MemoryMessageStore::PasswordHash(const std::string& user_id) {
  std::lock_guard lock(mu_);
  if (down_) return kDown;
  auto it = passwords_.find(user_id);
  if (it == passwords_.end()) return Status::NotFound("no such user");
  return it->second;
}

Result<OpenedSession> MemoryMessageStore::OpenSession(const NewSession& s) {
  std::lock_guard lock(mu_);
  if (down_) return kDown;
  sessions_[Key(s.user_id, s.session_id)] = {s.device_id, s.platform};
  std::string& live = platform_live_[Key(s.user_id, s.platform)];
  OpenedSession out;
  if (!live.empty() && live != s.session_id) {
    auto old = sessions_.find(Key(s.user_id, live));
    if (old != sessions_.end()) {
      out.replaced_session_id = live;
      out.replaced_device_id = old->second.device_id;
      deliveries_.push_back({s.user_id, "control", old->second.device_id, s.kicked_payload});
      sessions_.erase(old);
    }
  }
  live = s.session_id;
  return out;
}

Status MemoryMessageStore::CloseSession(const Caller& c, const std::string& kicked_payload) {
  std::lock_guard lock(mu_);
  if (down_) return kDown;
  auto it = sessions_.find(Key(c.user_id, c.session_id));
  if (it == sessions_.end()) return Status::Unauthorized("session ended");
  std::string& live = platform_live_[Key(c.user_id, it->second.platform)];
  if (live == c.session_id) live.clear();
  deliveries_.push_back({c.user_id, "control", it->second.device_id, kicked_payload});
  sessions_.erase(it);
  return Status::Ok();
}

Result<SendOutcome> MemoryMessageStore::SendDirect(const DirectSend& s, int64_t now_ms) {
  std::lock_guard lock(mu_);
  if (down_) return kDown;
  if (!LiveLocked(s.sender)) return Status::Unauthorized("session ended");
  const std::string& from = s.sender.user_id;
  if (auto it = cmids_.find(Key(from, s.cmid)); it != cmids_.end()) {
    SendOutcome dup = it->second;
    dup.duplicate = true;
    return dup;
  }
  if (!passwords_.count(s.recipient)) return Status::NotFound("no such user: " + s.recipient);
  Bucket& b = buckets_[from];
  if (!b.used) b = {static_cast<double>(policy_.send_burst), now_ms, true};
  b.tokens = std::min<double>(policy_.send_burst, b.tokens + std::max<int64_t>(0, now_ms - b.at) *
                                                                 policy_.send_rate_per_s / 1000);
  b.at = now_ms;
  if (b.tokens < 1) {
    return Status::RateLimited("too many messages; slow down",
                               static_cast<int>((1 - b.tokens) / policy_.send_rate_per_s) + 1);
  }
  b.tokens -= 1;

  auto& log = conversations_[s.message.conv];
  int64_t conv_seq = log.empty() ? 1 : log.rbegin()->first + 1;
  log[conv_seq] = AssembleConversationEntry(s.parts, conv_seq);
  auto append = [&](const std::string& user, const std::string& epoch) {
    Inbox& inbox = InboxLocked(user, epoch);
    int64_t seq = ++inbox.seq;
    std::string env = AssembleInboxEnvelope(s.parts, seq, inbox.epoch, conv_seq);
    inbox.entries[seq] = env;
    while (static_cast<int64_t>(inbox.entries.size()) > policy_.inbox_max_entries) {
      inbox.entries.erase(inbox.entries.begin());
    }
    deliveries_.push_back({user, "inbox", "", env});
  };
  append(s.recipient, s.recipient_epoch);
  if (s.recipient != from) append(from, s.sender_epoch);
  SendOutcome out{s.message.id, s.message.conv, conv_seq, now_ms, false};
  cmids_[Key(from, s.cmid)] = out;
  return out;
}

Result<SyncPage> MemoryMessageStore::Sync(const Caller& c, int64_t after, int limit,
                                          const std::string& new_epoch) {
  std::lock_guard lock(mu_);
  if (down_) return kDown;
  if (!LiveLocked(c)) return Status::Unauthorized("session ended");
  Inbox& inbox = InboxLocked(c.user_id, new_epoch);
  SyncPage page;
  page.epoch = inbox.epoch;
  page.latest_seq = inbox.seq;
  page.next_after = after;
  for (auto it = inbox.entries.upper_bound(after); it != inbox.entries.end(); ++it) {
    if (static_cast<int>(page.items.size()) == limit) {
      page.has_more = true;
      break;
    }
    page.items.push_back(it->second);
    page.next_after = it->first;
  }
  return page;
}

Result<AckOutcome> MemoryMessageStore::Ack(const Caller& c, int64_t seq,
                                           const std::string& new_epoch) {
  std::lock_guard lock(mu_);
  if (down_) return kDown;
  if (!LiveLocked(c)) return Status::Unauthorized("session ended");
  Inbox& inbox = InboxLocked(c.user_id, new_epoch);
  int64_t& acked = inbox.acks[c.device_id];
  acked = std::max(acked, std::min(seq, inbox.seq));
  return AckOutcome{inbox.seq, inbox.epoch};
}

Result<HistoryPage> MemoryMessageStore::History(const Caller& c, const std::string& conv,
                                                int64_t before, int limit) {
  std::lock_guard lock(mu_);
  if (down_) return kDown;
  if (!LiveLocked(c)) return Status::Unauthorized("session ended");
  HistoryPage page;
  auto found = conversations_.find(conv);
  if (found == conversations_.end()) return page;
  const auto& log = found->second;
  auto it = before > 0 ? log.lower_bound(before) : log.end();
  while (it != log.begin()) {
    --it;
    if (static_cast<int>(page.items.size()) == limit) {
      page.has_more = true;
      break;
    }
    page.items.push_back(it->second);
  }
  return page;
}

Result<std::map<std::string, PresenceState>> MemoryMessageStore::Presence(
    const Caller& c, const std::vector<std::string>& user_ids, int64_t now_ms) {
  std::lock_guard lock(mu_);
  if (down_) return kDown;
  if (!LiveLocked(c)) return Status::Unauthorized("session ended");
  std::map<std::string, PresenceState> out;
  for (const auto& u : user_ids) {
    PresenceState p;
    for (const auto& [device, until] : online_[u]) p.online |= until > now_ms;
    if (p.online) p.last_seen_ms = now_ms;
    out[u] = p;
  }
  return out;
}

Status MemoryMessageStore::Ping() {
  std::lock_guard lock(mu_);
  return down_ ? kDown : Status::Ok();
}

void MemoryMessageStore::SetDown(bool down) {
  std::lock_guard lock(mu_);
  down_ = down;
}

void MemoryMessageStore::SetOnline(const std::string& user_id, const std::string& device_id,
                                   int64_t until_ms) {
  std::lock_guard lock(mu_);
  online_[user_id][device_id] = until_ms;
}

std::vector<MemoryMessageStore::QueuedDelivery> MemoryMessageStore::Deliveries() const {
  std::lock_guard lock(mu_);
  return deliveries_;
}

}  // namespace courier::testing
