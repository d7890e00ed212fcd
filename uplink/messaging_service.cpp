#include "uplink/messaging_service.h"

#include "common/envelope.h"

namespace courier {

MessagingService::MessagingService(MessageStore* store, const Clock* clock, IdGenerator* ids,
                                   Limits limits)
    : store_(store), clock_(clock), ids_(ids), limits_(limits) {}

Result<SendOutcome> MessagingService::Send(const Caller& caller, const SendRequest& req) {
  switch (req.to.kind) {
    case Recipient::Kind::kUser: break;
    // Groups and rooms are created through endpoints of a later release; until then none
    // exists, which is what the caller is told.
    case Recipient::Kind::kGroup: return Status::NotFound("no such group: " + req.to.id);
    case Recipient::Kind::kRoom: return Status::NotFound("no such room: " + req.to.id);
  }
  int64_t now_ms = clock_->NowMs();
  DirectSend send;
  send.sender = caller;
  send.recipient = req.to.id;
  send.cmid = req.cmid;
  Message& m = send.message;
  m.id = ids_->NewMessageId(now_ms);
  m.conv = DirectConversation(caller.user_id, req.to.id);
  m.from = caller.user_id;
  m.to = FormatRecipient(req.to);
  m.cmid = req.cmid;
  m.kind = req.kind;
  m.body_json = req.body_json;
  m.ts = now_ms;
  send.parts = EncodeMessageParts(m);
  send.recipient_epoch = ids_->NewEpoch();
  send.sender_epoch = ids_->NewEpoch();
  return store_->SendDirect(send, now_ms);
}

Result<SyncPage> MessagingService::Sync(const Caller& caller, const SyncQuery& query) {
  return store_->Sync(caller, query.after, query.limit, ids_->NewEpoch());
}

Result<AckOutcome> MessagingService::Ack(const Caller& caller, int64_t seq) {
  return store_->Ack(caller, seq, ids_->NewEpoch());
}

Result<HistoryPage> MessagingService::History(const Caller& caller, const std::string& conv,
                                              const HistoryQuery& query) {
  auto ref = ParseConversation(conv);
  if (!ref.ok()) return ref.status();
  switch (ref->kind) {
    case ConversationRef::Kind::kDirect:
      if (caller.user_id != ref->a && caller.user_id != ref->b) {
        return Status::NotMember("only the two users of " + conv + " can read it");
      }
      break;
    case ConversationRef::Kind::kGroup: return Status::NotFound("no such group: " + ref->a);
    case ConversationRef::Kind::kRoom: return Status::NotFound("no such room: " + ref->a);
  }
  return store_->History(caller, conv, query.before, query.limit);
}

Result<std::map<std::string, PresenceState>> MessagingService::Presence(
    const Caller& caller, const std::vector<std::string>& users) {
  return store_->Presence(caller, users, clock_->NowMs());
}

}  // namespace courier
