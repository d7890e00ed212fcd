// MessageStore over Redis: every script touches one Redis Cluster slot; a send spans several
// slots as idempotent steps (common/redis_sends.h), and a login which replaces a session, or a
// logout, queues the kick as a second step from the user's kick outbox (docs/design.md,
// "Cross-slot operations"). Key layout: common/keys.h.
//
// Thread-safety: thread-safe; connections come from the shared RedisPool.
#pragma once

#include "common/message_store.h"
#include "common/redis_client.h"
#include "common/redis_sends.h"

namespace courier {

class RedisMessageStore final : public MessageStore {
 public:
  // `pool` must outlive the store.
  RedisMessageStore(RedisPool* pool, StorePolicy policy);

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

 private:
  std::string DeliveryStreamOf(const std::string& user_id) const;
  // Queues the kicks of the user's kick outbox that `reply` carries from element `first` on
  // (pairs: session id, "<notify> <device> <payload>") on the user's delivery stream, then
  // removes them from the outbox.
  Status QueueKicks(const std::string& user_id, const RedisValue& reply, size_t first);

  RedisPool* pool_;
  const StorePolicy policy_;
  RedisSends sends_{pool_, &policy_};
  const RedisScript create_user_{"create_user"};
  const RedisScript open_session_{"open_session"};
  const RedisScript close_session_{"close_session"};
  const RedisScript sync_{"sync"};
  const RedisScript ack_{"ack"};
};

}  // namespace courier
