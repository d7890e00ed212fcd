// ShardLease: this process's view of its lease on one queue shard — until when it may act as
// the shard's owner. The lease itself is a key in Redis ({dq:n}:owner, shard_lease.lua) that
// the coordinator renews; each successful renewal moves the deadline here to the moment the
// renewal was sent plus the lease length minus a safety margin, so the local deadline always
// ends before the key can expire in Redis. The steady clock keeps running while a process is
// paused (SIGSTOP, a long GC-like stall, a VM freeze), so a paused owner that wakes up after
// its lease was taken sees the deadline passed before it reads or publishes anything.
//
// Thread-safety: thread-safe; the coordinator's thread extends or revokes it, the shard's
// worker thread reads it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace courier {

class ShardLease {
 public:
  using Clock = std::chrono::steady_clock;

  // The lease is held until `until` (steady clock).
  void ExtendUntil(Clock::time_point until) {
    until_ns_.store(until.time_since_epoch().count(), std::memory_order_release);
  }
  // The lease is not held (lost, released, or not yet taken).
  void Revoke() { until_ns_.store(0, std::memory_order_release); }
  // How long the lease is still held from now; zero or negative when it is not.
  std::chrono::milliseconds Remaining() const {
    int64_t until = until_ns_.load(std::memory_order_acquire);
    if (until == 0) return std::chrono::milliseconds(-1);
    auto left = Clock::time_point(Clock::duration(until)) - Clock::now();
    return std::chrono::duration_cast<std::chrono::milliseconds>(left);
  }
  // True after Revoke() (or before the first ExtendUntil()).
  bool revoked() const { return until_ns_.load(std::memory_order_acquire) == 0; }
  // True while the lease is held for at least `ahead` more.
  bool HeldFor(std::chrono::milliseconds ahead) const { return Remaining() > ahead; }

 private:
  std::atomic<int64_t> until_ns_{0};  // steady clock, in its own duration's ticks; 0: not held
};

}  // namespace courier
