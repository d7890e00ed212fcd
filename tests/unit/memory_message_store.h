// An in-memory MessageStore for unit tests of the core: the contract of
// common/message_store.h, kept by message_store_contract.h, which also runs against Redis.
//
// Thread-safety: thread-safe (one mutex).
#pragma once

#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/message_store.h"

namespace courier::testing {

class MemoryMessageStore final : public MessageStore {
 public:
  explicit MemoryMessageStore(StorePolicy policy = {}) : policy_(policy) {}

  struct QueuedDelivery {
    std::string user_id;
    std::string kind;  // "inbox" or "control"
    std::string device_id;
    std::string payload;
  };

  Status CreateUser(const NewUser& user) override;
  Result<std::string> PasswordHash(const std::string& user_id) override;
  Result<OpenedSession> OpenSession(const NewSession& session) override;
  Status CloseSession(const Caller& caller, const std::string& kicked_payload) override;
  Result<SendOutcome> SendDirect(const DirectSend& send, int64_t now_ms) override;
  Result<SyncPage> Sync(const Caller& caller, int64_t after, int limit,
                        const std::string& new_epoch) override;
  Result<AckOutcome> Ack(const Caller& caller, int64_t seq, const std::string& new_epoch) override;
  Result<HistoryPage> History(const Caller& caller, const std::string& conv, int64_t before,
                              int limit) override;
  Result<std::map<std::string, PresenceState>> Presence(const Caller& caller,
                                                        const std::vector<std::string>& user_ids,
                                                        int64_t now_ms) override;
  Status Ping() override;

  // Test controls.
  void SetDown(bool down);  // every call answers Unavailable while down
  void SetOnline(const std::string& user_id, const std::string& device_id, int64_t until_ms);
  std::vector<QueuedDelivery> Deliveries() const;

 private:
  struct Inbox {
    int64_t seq = 0;
    std::string epoch;
    std::map<int64_t, std::string> entries;
    std::map<std::string, int64_t> acks;
  };
  struct Session {
    std::string device_id;
    std::string platform;
  };
  struct Bucket {
    double tokens = 0;
    int64_t at = 0;
    bool used = false;
  };
  bool LiveLocked(const Caller& c) const;
  Inbox& InboxLocked(const std::string& user_id, const std::string& new_epoch);

  const StorePolicy policy_;
  mutable std::mutex mu_;
  bool down_ = false;
  std::map<std::string, std::string> passwords_;
  std::map<std::string, Inbox> inboxes_;
  std::map<std::string, Session> sessions_;           // "<user>/<sid>"
  std::map<std::string, std::string> platform_live_;  // "<user>/<platform>" -> sid
  std::map<std::string, SendOutcome> cmids_;          // "<user>/<cmid>"
  std::map<std::string, Bucket> buckets_;
  std::map<std::string, std::map<int64_t, std::string>> conversations_;
  std::map<std::string, std::map<std::string, int64_t>> online_;
  std::vector<QueuedDelivery> deliveries_;
};

}  // namespace courier::testing
