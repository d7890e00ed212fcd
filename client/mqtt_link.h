// MqttLink: one MQTT connection of a device to its broker (SPEC §4), over the Paho C++
// async_client: MQTT 3.1.1, clean session, no persistence, and no automatic reconnect (the
// client reconnects itself, with its own backoff, and syncs after each reconnect).
//
// Paho reports failures by throwing; MqttLink catches everything and answers with a Status.
// A link is used for one connection: after it is lost or closed, make a new one.
//
// Thread-safety: Connect, Subscribe, Unsubscribe and Disconnect are for the owning thread (the
// client's event thread). The handlers run on Paho's thread and must only hand the event over (post
// it to a queue); they must not call back into the link.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace mqtt {
class async_client;
}

namespace courier::client {

struct MqttLinkOptions {
  std::string host;
  int port = 1883;
  std::string client_id;
  std::string username;
  std::string password;
  std::chrono::seconds keepalive{30};  // the broker accepts 1..60 s
};

class MqttLink {
 public:
  using MessageHandler = std::function<void(std::string topic, std::string payload)>;
  using LostHandler = std::function<void(std::string cause)>;

  // `on_message` gets every message received; `on_lost` once, if the connection drops after
  // Connect() succeeded (not after Disconnect()).
  MqttLink(MqttLinkOptions options, MessageHandler on_message, LostHandler on_lost);
  // Disconnects (cleanly, briefly) if connected; no handler runs once this returns.
  ~MqttLink();
  MqttLink(const MqttLink&) = delete;
  MqttLink& operator=(const MqttLink&) = delete;

  // OK once the broker accepted the connection (CONNACK 0). Unauthorized when the broker refused
  // the credentials (CONNACK 4 or 5: the session has ended, or the token is not valid; the same
  // token will never be accepted again). Unavailable for everything else (refused, no CONNACK
  // within `timeout`, closed without a CONNACK): worth retrying.
  Status Connect(std::chrono::milliseconds timeout);
  // Subscribes to all `topics` in one SUBSCRIBE at `qos`, and waits for the SUBACK. OK when no
  // filter was refused (a QoS downgrade is accepted: the periodic ack repairs lost pushes).
  // Forbidden when the broker refused a filter, Unavailable when no SUBACK came within
  // `timeout` or the connection failed.
  Status Subscribe(const std::vector<std::string>& topics, int qos,
                   std::chrono::milliseconds timeout);
  // Unsubscribes from `topics` in one UNSUBSCRIBE and waits for the UNSUBACK. Unavailable when
  // none came within `timeout` or the connection failed.
  Status Unsubscribe(const std::vector<std::string>& topics, std::chrono::milliseconds timeout);
  // Sends DISCONNECT and waits for it up to `timeout`. Idempotent.
  void Disconnect(std::chrono::milliseconds timeout);

  // "tcp://host:port", for state details and logs.
  const std::string& uri() const { return uri_; }

 private:
  MqttLinkOptions options_;
  std::string uri_;
  MessageHandler on_message_;
  LostHandler on_lost_;
  std::unique_ptr<mqtt::async_client> client_;
};

}  // namespace courier::client
