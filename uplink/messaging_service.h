// The core of the message path: sends to users, groups and rooms; sync, ack, history,
// the conversation list, read receipts, recall, signals and presence.
//
// Thread-safety: thread-safe (its collaborators are).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/config.h"
#include "common/message_store.h"
#include "common/social_store.h"
#include "uplink/id_generator.h"
#include "uplink/request_codec.h"

namespace courier {

class MessagingService {
 public:
  // All pointers must outlive the service.
  MessagingService(MessageStore* store, SocialStore* social, const Clock* clock, IdGenerator* ids,
                   Limits limits);

  // Stores the message (a one-to-one message in both inboxes; a group message in the group's
  // feed, copied into the members' inboxes by the downlink; a room message in the room's
  // history and on its topic), or returns the earlier message with the same (sender, cmid)
  // with duplicate = true. NotFound: no such recipient; NotMember; Blocked; Forbidden.
  Result<SendOutcome> Send(const Caller& caller, const SendRequest& req);
  Result<SyncPage> Sync(const Caller& caller, const SyncQuery& query);
  Result<AckOutcome> Ack(const Caller& caller, int64_t seq);
  // A conversation's messages, newest first; only its members may read it (NotMember).
  Result<HistoryPage> History(const Caller& caller, const std::string& conv,
                              const HistoryQuery& query);
  Result<std::map<std::string, PresenceState>> Presence(const Caller& caller,
                                                        const std::vector<std::string>& users);

  Result<std::vector<ConversationSummary>> Conversations(const Caller& caller, int limit);
  // The caller has read `conv` up to conv_seq; the other members get receipt.read.
  // InvalidField: rooms have no read receipts; NotMember.
  Status MarkRead(const Caller& caller, const std::string& conv, int64_t conv_seq);
  // The sender recalls their message within the recall window; every member gets
  // message.recalled. NotFound: no such message (or long gone); Forbidden: not the sender,
  // or the window has passed.
  Status Recall(const Caller& caller, const std::string& message_id);
  // A signal pushed once to a user or a group's other members, never stored.
  Status Signal(const Caller& caller, const SignalRequest& req);

 private:
  // OK when the caller may read `conv`: NotMember or NotFound otherwise.
  Status CheckReadAccess(const Caller& caller, const std::string& conv);

  MessageStore* store_;
  SocialStore* social_;
  const Clock* clock_;
  IdGenerator* ids_;
  const Limits limits_;
};

}  // namespace courier
