// MessageStore: the durable state behind the API — users, sessions, inboxes, conversations,
// de-duplication and the delivery queue — as one interface, so the core (uplink/) can be
// unit-tested with an in-memory fake (tests/support/memory_message_store.h) and run against
// Redis (common/redis_message_store.h) in production.
//
// The contract every implementation keeps (and tests/unit/message_store_contract.h checks):
//  - a user's inbox seq starts at 1 and grows by exactly 1 per entry, never reused;
//  - the inbox has an epoch, fixed at the inbox's creation, returned with every sync and ack;
//  - a send that answered is complete: conv_seq, every inbox entry, the history entry, the
//    de-duplication record and the delivery-queue entries are all written; one that failed
//    (Unavailable) may be half-done, and a retry with the same cmid completes it without
//    writing anything twice (the Redis store's steps: common/redis_sends.h);
//  - a send with a (sender, cmid) already accepted within the window returns the original
//    message's fields with duplicate = true and writes nothing;
//  - calls made on behalf of a session (`session_id`) fail with Unauthorized once the session
//    is closed, replaced or expired;
//  - failures of the backing store are Unavailable; a retry of the same call is safe.
//
// Thread-safety: implementations are thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/envelope.h"
#include "common/status.h"

namespace courier {

struct NewUser {
  std::string user_id;
  std::string password_hash;
  std::string display_name;
  int64_t created_at_ms = 0;
  std::string epoch;  // the new inbox's epoch
};

struct NewSession {
  std::string user_id;
  std::string device_id;
  std::string platform;
  std::string session_id;
  int64_t expires_at_ms = 0;
  // Control envelope pushed to the device whose session on this platform is replaced.
  std::string kicked_payload;
};

struct OpenedSession {
  // The session this login replaced on the same platform, if any.
  std::optional<std::string> replaced_session_id;
  std::optional<std::string> replaced_device_id;
};

// Who is calling: the authenticated user and the session whose token they presented; and the
// id of the request they sent (uplink/request_id.h; "" when unknown), which the stores write
// beside the pushes the call queues, so that the downlink's log lines about delivering them
// carry it too.
struct Caller {
  std::string user_id;
  std::string device_id;
  std::string session_id;
  std::string request_id;
};

struct DirectSend {
  Caller sender;
  std::string recipient;  // user id; may equal the sender (notes to self)
  std::string cmid;
  Message message;              // id, conv, ts etc. as the new message would have them
  EnvelopeParts parts;          // EncodeMessageParts(message)
  std::string recipient_epoch;  // used only if the inbox has none yet
  std::string sender_epoch;
};

struct SendOutcome {
  std::string id;
  std::string conv;
  int64_t conv_seq = 0;
  int64_t ts = 0;
  bool duplicate = false;  // an earlier send with this cmid; nothing was written now
};

struct SyncPage {
  std::string epoch;
  std::vector<std::string> items;  // envelope JSON, in seq order
  int64_t next_after = 0;          // the last item's seq, or `after` when empty
  bool has_more = false;
  int64_t latest_seq = 0;  // the inbox's highest seq
};

struct AckOutcome {
  int64_t latest_seq = 0;
  std::string epoch;
};

struct HistoryPage {
  std::vector<std::string> items;  // message JSON (no seq / epoch), newest first
  bool has_more = false;
};

struct PresenceState {
  bool online = false;
  int64_t last_seen_ms = 0;  // 0: never seen
};

// Settings the store applies inside its atomic operations.
struct StorePolicy {
  int64_t cmid_window_s = 24 * 3600;
  int64_t inbox_max_entries = 10000;
  int64_t inbox_retention_ms = int64_t{30} * 24 * 3600 * 1000;
  double send_rate_per_s = 50;
  int send_burst = 100;
  int64_t token_ttl_s = 24 * 3600;
  int64_t delivery_stream_max = 1000000;  // approximate cap of each delivery stream
  int delivery_shards = 4;
  std::string messaging_policy = "open";  // or "friends": one-to-one only between friends
  int64_t recall_window_ms = 120000;
  int room_history_max = 100;
};

class MessageStore {
 public:
  virtual ~MessageStore() = default;

  // Conflict if the user id is taken.
  virtual Status CreateUser(const NewUser& user) = 0;
  // The stored password hash; NotFound for an unknown user.
  virtual Result<std::string> PasswordHash(const std::string& user_id) = 0;

  // Makes `session` the user's live session on its platform; a replaced session stops
  // working at once and its device gets `kicked_payload` on its device topic.
  virtual Result<OpenedSession> OpenSession(const NewSession& session) = 0;
  // Ends the caller's session; its device gets `kicked_payload`. Unauthorized if not live.
  virtual Status CloseSession(const Caller& caller, const std::string& kicked_payload) = 0;

  // NotFound: unknown recipient. RateLimited: the sender's bucket is empty.
  virtual Result<SendOutcome> SendDirect(const DirectSend& send, int64_t now_ms) = 0;

  // Inbox entries with seq > after, at most `limit`. `new_epoch` is used only if the inbox
  // has no epoch (its state was lost).
  virtual Result<SyncPage> Sync(const Caller& caller, int64_t after, int limit,
                                const std::string& new_epoch) = 0;
  virtual Result<AckOutcome> Ack(const Caller& caller, int64_t seq,
                                 const std::string& new_epoch) = 0;

  // Messages of `conv` with conv_seq < before (0: from the newest), newest first. The caller's
  // right to read the conversation is checked by the core, not here.
  virtual Result<HistoryPage> History(const Caller& caller, const std::string& conv, int64_t before,
                                      int limit) = 0;

  virtual Result<std::map<std::string, PresenceState>> Presence(
      const Caller& caller, const std::vector<std::string>& user_ids, int64_t now_ms) = 0;

  // OK when the store answers.
  virtual Status Ping() = 0;
};

}  // namespace courier
