// Time as an interface, so the core can be tested with a clock that tests move by hand.
#pragma once

#include <cstdint>

namespace courier {

// Thread-safe implementations only.
class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch (wall clock: it goes into envelopes as `ts`).
  virtual int64_t NowMs() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t NowMs() const override;
};

}  // namespace courier
