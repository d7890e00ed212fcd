// Publisher over Eclipse Paho MQTT C++: one QoS 1 connection to the broker as the service
// account. Reconnection is driven by the delivery worker (EnsureConnected), so every connect
// carries a freshly signed service token.
//
// Thread-safety: not thread-safe; owned by the delivery worker's thread (Paho's own callback
// thread only completes tokens).
#pragma once

#include <memory>
#include <string>

#include "common/clock.h"
#include "common/config.h"
#include "common/jwt.h"
#include "downlink/delivery.h"

namespace mqtt {
class async_client;
}

namespace courier {

class MqttPublisher final : public Publisher {
 public:
  // `jwt` and `clock` must outlive the publisher.
  MqttPublisher(MqttConfig config, std::string client_id, const JwtCodec* jwt, const Clock* clock);
  ~MqttPublisher() override;

  Status EnsureConnected() override;
  std::vector<bool> PublishAll(const std::vector<OutgoingMessage>& messages,
                               int timeout_ms) override;

 private:
  MqttConfig config_;
  std::string client_id_;
  const JwtCodec* jwt_;
  const Clock* clock_;
  std::unique_ptr<mqtt::async_client> client_;
};

}  // namespace courier
