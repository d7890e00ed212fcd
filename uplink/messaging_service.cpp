#include "uplink/messaging_service.h"

#include <nlohmann/json.hpp>

#include "common/envelope.h"

namespace courier {

MessagingService::MessagingService(MessageStore* store, SocialStore* social, const Clock* clock,
                                   IdGenerator* ids, Limits limits)
    : store_(store), social_(social), clock_(clock), ids_(ids), limits_(limits) {}

Result<SendOutcome> MessagingService::Send(const Caller& caller, const SendRequest& req) {
  int64_t now_ms = clock_->NowMs();
  Message m;
  m.id = ids_->NewMessageId(now_ms);
  switch (req.to.kind) {
    case Recipient::Kind::kUser:
      m.conv = DirectConversation(caller.user_id, req.to.id);
      break;
    case Recipient::Kind::kGroup:
      m.conv = "g:" + req.to.id;
      break;
    case Recipient::Kind::kRoom:
      m.conv = "r:" + req.to.id;
      break;
  }
  m.from = caller.user_id;
  m.to = FormatRecipient(req.to);
  m.cmid = req.cmid;
  m.kind = req.kind;
  m.body_json = req.body_json;
  m.ts = now_ms;
  EnvelopeParts parts = EncodeMessageParts(m);

  if (req.to.kind == Recipient::Kind::kUser) {
    DirectSend send;
    send.sender = caller;
    send.recipient = req.to.id;
    send.cmid = req.cmid;
    send.message = std::move(m);
    send.parts = std::move(parts);
    send.recipient_epoch = ids_->NewEpoch();
    send.sender_epoch = ids_->NewEpoch();
    return store_->SendDirect(send, now_ms);
  }
  ConversationSend send;
  send.sender = caller;
  send.target_id = req.to.id;
  send.cmid = req.cmid;
  send.message = std::move(m);
  send.parts = std::move(parts);
  if (req.to.kind == Recipient::Kind::kGroup) return social_->SendGroup(send, now_ms);
  return social_->SendRoom(send, now_ms);
}

Result<SyncPage> MessagingService::Sync(const Caller& caller, const SyncQuery& query) {
  return store_->Sync(caller, query.after, query.limit, ids_->NewEpoch());
}

Result<AckOutcome> MessagingService::Ack(const Caller& caller, int64_t seq) {
  return store_->Ack(caller, seq, ids_->NewEpoch());
}

Status MessagingService::CheckReadAccess(const Caller& caller, const std::string& conv) {
  auto ref = ParseConversation(conv);
  if (!ref.ok()) return ref.status();
  // The store checks the caller's session first, so a revoked token is 401 here too.
  auto m = social_->MembershipOf(caller, conv);
  if (!m.ok()) return m.status();
  switch (ref->kind) {
    case ConversationRef::Kind::kDirect:
      if (!m->member) return Status::NotMember("only the two users of " + conv + " can read it");
      return Status::Ok();
    case ConversationRef::Kind::kGroup:
      if (!m->exists) return Status::NotFound("no such group: " + ref->a);
      if (!m->member) return Status::NotMember("only members can read group " + ref->a);
      return Status::Ok();
    case ConversationRef::Kind::kRoom:
      if (!m->member) return Status::NotMember("only members can read room " + ref->a);
      return Status::Ok();
  }
  return Status::Ok();
}

Result<HistoryPage> MessagingService::History(const Caller& caller, const std::string& conv,
                                              const HistoryQuery& query) {
  if (Status s = CheckReadAccess(caller, conv); !s.ok()) return s;
  return store_->History(caller, conv, query.before, query.limit);
}

Result<std::map<std::string, PresenceState>> MessagingService::Presence(
    const Caller& caller, const std::vector<std::string>& users) {
  return store_->Presence(caller, users, clock_->NowMs());
}

Result<std::vector<ConversationSummary>> MessagingService::Conversations(const Caller& caller,
                                                                         int limit) {
  return social_->Conversations(caller, limit);
}

Status MessagingService::MarkRead(const Caller& caller, const std::string& conv, int64_t conv_seq) {
  auto ref = ParseConversation(conv);
  if (!ref.ok()) return ref.status();
  std::string other;
  switch (ref->kind) {
    case ConversationRef::Kind::kRoom:
      return Status::InvalidField("rooms have no read receipts");
    case ConversationRef::Kind::kDirect:
      other = caller.user_id == ref->a ? ref->b : ref->a;
      [[fallthrough]];
    case ConversationRef::Kind::kGroup:
      if (Status s = CheckReadAccess(caller, conv); !s.ok()) return s;
      break;
  }
  auto r = social_->MarkRead(caller, conv, other, conv_seq, ids_->NewEpoch(), clock_->NowMs());
  return r.ok() ? Status::Ok() : r.status();
}

Status MessagingService::Recall(const Caller& caller, const std::string& message_id) {
  auto m = social_->FindMessage(caller, message_id);
  if (!m.ok()) return m.status();
  if (m->from != caller.user_id) return Status::Forbidden("only the sender can recall a message");
  int64_t now = clock_->NowMs();
  if (now - m->ts > limits_.recall_window_s * 1000) {
    return Status::Forbidden("the recall window of " + std::to_string(limits_.recall_window_s) +
                             " s has passed");
  }
  Notice n;
  n.now_ms = now;
  n.epoch = ids_->NewEpoch();
  n.rest = EncodeNotificationRest(
      "message.recalled",
      nlohmann::json{
          {"id", m->id}, {"conv", m->conv}, {"conv_seq", m->conv_seq}, {"by", caller.user_id}}
          .dump(),
      now);
  return social_->Recall(caller, *m, n);
}

Status MessagingService::Signal(const Caller& caller, const SignalRequest& req) {
  std::string conv = req.to.kind == Recipient::Kind::kGroup
                         ? "g:" + req.to.id
                         : DirectConversation(caller.user_id, req.to.id);
  int64_t now = clock_->NowMs();
  return social_->Signal(caller, req.to, conv, EncodeSignal(req.kind, caller.user_id, conv, now),
                         now);
}

}  // namespace courier
