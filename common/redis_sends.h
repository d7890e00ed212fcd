// Sends over Redis as sequences of single-slot steps, so they run on a Redis Cluster as on a
// single Redis (docs/design.md, "Cross-slot operations"):
//
//   one-to-one  send_begin (sender) with the recipient check → conv_append (conversation)
//               → direct_fanin ×2 (recipient, sender) → pushes + recall index → send_end
//               (five round trips; the steps in one round trip are pipelined)
//   group       send_begin → group_append (group: history + feed) → fan-out task + recall index
//               → send_end
//   room        send_begin → room_append (room: history) → room delivery → send_end
//
// send_begin opens the cmid record with what a retry needs; every later step is idempotent
// (a marker per step keyed by the message id, or the inbox's cursor per conversation), so a retry
// with the same cmid after a crash, a timeout or a failover resumes the send and ends in the state
// one uninterrupted send would have left: one history entry, one inbox entry per member, the same
// conv_seq. Only a push may be queued twice (devices drop it by seq). The 2xx is sent after
// send_end.
//
// Thread-safety: thread-safe; connections come from the shared RedisPool.
#pragma once

#include <string>
#include <variant>

#include "common/message_store.h"
#include "common/redis_client.h"
#include "common/redis_steps.h"
#include "common/social_store.h"

namespace courier {

class RedisSends {
 public:
  // How long a request owns the send it opened: a concurrent retry is told to wait (503), a
  // retry after it resumes the send. A request starts no step after kStepDeadlineMs.
  static constexpr int64_t kLeaseMs = 5000;
  static constexpr int64_t kStepDeadlineMs = 2500;

  // `pool` and `policy` must outlive the sends.
  RedisSends(RedisPool* pool, const StorePolicy* policy)
      : pool_(pool), policy_(policy), steps_(pool, policy) {}

  Result<SendOutcome> Direct(const DirectSend& send, int64_t now_ms);
  Result<SendOutcome> Group(const ConversationSend& send, int64_t now_ms);
  Result<SendOutcome> Room(const ConversationSend& send, int64_t now_ms);

 private:
  // A send opened by send_begin: this request's, or an earlier request's being resumed.
  struct Opened {
    std::string id;
    std::string conv;
    int64_t ts = 0;
    std::string head;
    std::string tail;
    bool resumed = false;
  };
  using Begun = std::variant<SendOutcome, Opened>;  // finished earlier, or to be done now

  // `with`: commands read in the same round trip as send_begin's first call (their replies to
  // `with_replies`, even when the send is refused).
  Result<Begun> Begin(const Caller& sender, const std::string& cmid, const Message& m,
                      const EnvelopeParts& parts, const std::string& target, bool friends_only,
                      int64_t now_ms, const std::vector<std::vector<std::string>>& with = {},
                      std::vector<RedisValue>* with_replies = nullptr);
  // Runs `commands` (pushes, the recall index: each safe to repeat) and closes the cmid record.
  Result<SendOutcome> Finish(const Caller& sender, const std::string& cmid, const Opened& o,
                             int64_t conv_seq,
                             const std::vector<std::vector<std::string>>& commands);
  Status Abort(const Caller& sender, const std::string& cmid, const Opened& o);
  // Copies the conversation's history, up to the entry (conv_seq, from, rest) just written,
  // into each user's inbox (direct_fanin.lua; users are {user id, epoch candidate}), reading the
  // history when an inbox is further behind. The entries copied now, to be pushed.
  Result<std::vector<InboxEntry>> CopyDirect(
      const std::string& conv, const std::vector<std::pair<std::string, std::string>>& users,
      int64_t conv_seq, const std::string& from, const std::string& rest, int64_t now_ms);
  std::vector<std::string> IndexCommand(const Opened& o, int64_t conv_seq, const std::string& from,
                                        bool expire) const;

  RedisPool* pool_;
  const StorePolicy* policy_;
  RedisSteps steps_;
  const RedisScript begin_{"send_begin"};
  const RedisScript end_{"send_end"};
  const RedisScript abort_{"send_abort"};
  const RedisScript conv_append_{"conv_append"};
  const RedisScript direct_fanin_{"direct_fanin"};
  const RedisScript group_append_{"group_append"};
  const RedisScript room_append_{"room_append"};
};

}  // namespace courier
