// The shared steps of operations that span Redis Cluster slots (docs/design.md, "Cross-slot
// operations"). A write that touches several owners — a sender and a recipient, a user and a
// group — is done as a sequence of single-slot steps; each step is idempotent (a marker in its
// slot records its result), so the sequence can be repeated after a crash, a timeout or a
// failover and ends in the same state, with nothing lost and nothing duplicated.
//
// Thread-safety: thread-safe; connections come from the shared RedisPool.
#pragma once

#include <string>
#include <vector>

#include "common/message_store.h"
#include "common/redis_client.h"

namespace courier {

// One inbox append, as a step of operation `op` (a message id, a request id).
struct InboxWrite {
  std::string user;
  std::string op;
  std::string epoch_candidate;  // the inbox's epoch if it has none (a lost meta hash)
  std::string rest;             // the envelope after '{"seq":S,"epoch":"E",'
  // A message (also updates the user's conversation list); empty conv for a notification.
  std::string conv;
  int64_t conv_seq = 0;
  std::string from;
};

// What an inbox append produced: the entry's seq and envelope (empty if a repeated step finds
// its entry trimmed since: nothing left to push).
struct InboxEntry {
  std::string user;
  int64_t seq = 0;
  std::string envelope;
  // The request that wrote it (Caller::request_id), queued with its push for the downlink's
  // logs; "" when unknown (fan-out, catch-up of earlier entries).
  std::string request_id;
};

class RedisSteps {
 public:
  // `pool` and `policy` must outlive the steps.
  RedisSteps(RedisPool* pool, const StorePolicy* policy) : pool_(pool), policy_(policy) {}

  // Unauthorized unless the caller's session exists (logged out, replaced or expired).
  Status CheckSession(const Caller& caller);

  // Appends each write to its user's inbox (inbox_op.lua, pipelined); a write done before under
  // the same op returns its earlier entry. Entries in the order of `writes`.
  Result<std::vector<InboxEntry>> PutInboxes(const std::vector<InboxWrite>& writes, int64_t now_ms);

  // Queues each entry's push on its user's delivery stream (queue_pushes.lua, pipelined), in seq
  // order per user and once per entry: pushes already queued are skipped, and pushes of earlier
  // entries not queued yet (a concurrent request, or one that died) are queued first, up to
  // kPushCatchUp of them.
  // `with`: commands that go in the same round trip, before the pushes (each safe to repeat, none
  // depending on them); an error reply to one is Internal.
  Status QueuePushes(const std::vector<InboxEntry>& entries,
                     const std::vector<std::vector<std::string>>& with = {});

  // The most missing pushes queued before an entry's own; a device further behind syncs.
  static constexpr int kPushCatchUp = 256;

  using ScriptCalls = std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>>;

  // Runs `script` once per (keys, args) call, pipelined (one round trip per Redis node); a call
  // that meets a node without the script loaded is run again with a load. Replies in order;
  // an error reply is Internal.
  Result<std::vector<RedisValue>> EvalEach(const RedisScript& script, const ScriptCalls& calls) {
    return EvalAfter({}, script, calls);
  }
  // The same, with plain `commands` sent first in the same pipeline. Replies: the commands' (an
  // error reply left to the caller), then the calls'. On a Redis Cluster the pipeline is split per
  // node, so the commands and the calls must not depend on each other's order.
  Result<std::vector<RedisValue>> EvalAfter(const std::vector<std::vector<std::string>>& commands,
                                            const RedisScript& script, const ScriptCalls& calls);

 private:
  RedisPool* pool_;
  const StorePolicy* policy_;
  const RedisScript inbox_op_{"inbox_op"};
  const RedisScript queue_pushes_{"queue_pushes"};
};

}  // namespace courier
