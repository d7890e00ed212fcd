// The core of the message path: send, sync, ack and presence over a MessageStore.
//
// Thread-safety: thread-safe (its collaborators are).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/config.h"
#include "common/message_store.h"
#include "uplink/id_generator.h"
#include "uplink/request_codec.h"

namespace courier {

class MessagingService {
 public:
  // All pointers must outlive the service.
  MessagingService(MessageStore* store, const Clock* clock, IdGenerator* ids, Limits limits);

  // Stores the message in every inbox it belongs to, or returns the earlier message with the
  // same (sender, cmid) with duplicate = true. NotFound: no such recipient.
  Result<SendOutcome> Send(const Caller& caller, const SendRequest& req);
  Result<SyncPage> Sync(const Caller& caller, const SyncQuery& query);
  Result<AckOutcome> Ack(const Caller& caller, int64_t seq);
  // A conversation's messages, newest first; only its members may read it (NotMember).
  Result<HistoryPage> History(const Caller& caller, const std::string& conv,
                              const HistoryQuery& query);
  Result<std::map<std::string, PresenceState>> Presence(const Caller& caller,
                                                        const std::vector<std::string>& users);

 private:
  MessageStore* store_;
  const Clock* clock_;
  IdGenerator* ids_;
  const Limits limits_;
};

}  // namespace courier
