// BrokerLink: one broker's connection as BrokerRouter drives it, publishing to several brokers
// at once. MqttPublisher is the real one; tests fake it.
//
// Thread-safety: implementations need not be thread-safe; one worker thread owns a link.
#pragma once

#include <chrono>
#include <vector>

#include "common/status.h"
#include "downlink/delivery.h"

namespace courier {

class BrokerLink {
 public:
  virtual ~BrokerLink() = default;
  // Starts connecting, or sees how the connect under way is doing, without waiting for it:
  // true once connected, false while the CONNACK is awaited, Unavailable when the attempt failed
  // (refused, closed, or no CONNACK in time); the next call then starts a new one.
  virtual Result<bool> ConnectWithoutWaiting() = 0;
  virtual bool connected() const = 0;
  // Hands `messages` to the connection in order without waiting; Await() then waits until
  // `deadline` for their PUBACKs (element i true when message i was acknowledged).
  virtual void Begin(const std::vector<const OutgoingMessage*>& messages) = 0;
  virtual std::vector<bool> Await(std::chrono::steady_clock::time_point deadline) = 0;
};

}  // namespace courier
