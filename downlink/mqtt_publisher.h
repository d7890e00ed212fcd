// Publisher over Eclipse Paho MQTT C++: one QoS 1 connection to the broker as the service
// account. Reconnection is driven by the delivery worker (EnsureConnected), so every connect
// carries a freshly signed service token.
//
// Thread-safety: not thread-safe; owned by the delivery worker's thread (Paho's own callback
// thread only completes tokens).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/config.h"
#include "common/jwt.h"
#include "downlink/broker_link.h"
#include "downlink/delivery.h"

namespace mqtt {
class async_client;
class delivery_token;
class token;
}  // namespace mqtt

namespace courier {

class MqttPublisher final : public Publisher, public BrokerLink {
 public:
  // `jwt` and `clock` must outlive the publisher.
  MqttPublisher(MqttConfig config, std::string client_id, const JwtCodec* jwt, const Clock* clock);
  ~MqttPublisher() override;

  Status EnsureConnected() override;
  std::vector<bool> PublishAll(const std::vector<OutgoingMessage>& messages,
                               int timeout_ms) override;
  bool TakeReconnected() override;

  // PublishAll in two halves, so that a caller driving several brokers waits for all their
  // PUBACKs at once (downlink/broker_router.h). Begin() hands `messages` to the connection in
  // order, without waiting; Await() then waits until `deadline` for their PUBACKs: element i is
  // true when message i was acknowledged. A Begin() without its Await() is forgotten by the next
  // Begin(). REQUIRES: connected() for anything to go out (else Await() says false for all).
  void Begin(const std::vector<const OutgoingMessage*>& messages) override;
  std::vector<bool> Await(std::chrono::steady_clock::time_point deadline) override;
  bool connected() const override;
  Result<bool> ConnectWithoutWaiting() override;

 private:
  std::string uri() const;
  // Makes a new client and sends CONNECT; connect_token_ completes with the CONNACK.
  void StartConnect();
  void OnConnected();

  MqttConfig config_;
  std::string client_id_;
  const JwtCodec* jwt_;
  const Clock* clock_;
  std::unique_ptr<mqtt::async_client> client_;
  std::shared_ptr<mqtt::token> connect_token_;  // a connect under way, or nullptr
  std::chrono::steady_clock::time_point connect_deadline_;
  bool reconnected_ = false;  // a connection was made since TakeReconnected() last said so
  std::vector<std::shared_ptr<mqtt::delivery_token>> in_flight_;  // of the last Begin()
  std::vector<std::string> in_flight_topics_;                     // for log lines
};

}  // namespace courier
