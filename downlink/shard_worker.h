// ShardWorker: the work of one queue shard (a delivery stream, or a fan-out stream), run by the
// shard coordinator on a thread of its own for as long as this downlink owns the shard.
//
// Thread-safety: not thread-safe; created on the coordinator's thread, then used by the
// shard's thread only, and destroyed after that thread ended.
#pragma once

#include "common/status.h"

namespace courier {

class ShardWorker {
 public:
  virtual ~ShardWorker() = default;
  // One step of the shard's work, waiting at most about a second for new entries: the number
  // of entries done; Conflict when the shard's lease is not held (nothing was done; the caller
  // waits for the lease or stops the worker); another error when Redis or the broker failed
  // (the caller backs off and calls again).
  virtual Result<int> RunOnce() = 0;
};

}  // namespace courier
