// A test device on the downlink: one MQTT connection (Paho C++ async_client, MQTT 3.1.1) that
// records every message it receives, so a test can wait for pushes and look at them.
//
//   MqttDevice phone(stack.mqtt());                  // the broker of its user, chosen at Connect()
//   REQUIRE(phone.Connect("bob:phone", "bob", token));
//   CHECK(phone.Subscribe({"courier/u/bob"}) == std::vector<int>{1});
//   REQUIRE(phone.WaitFor([](const MqttMessage& m) { return m.json.value("seq", 0) == 1; }));
//
// Paho reports failures by throwing; this class catches them and answers with bools, codes and
// last_error(), so a test reads as a list of CHECKs.
//
// Thread-safety: Connect, Subscribe, Unsubscribe, Publish and Disconnect are meant for one thread
// (the test's); Connected, the message accessors and the Wait* functions are thread-safe (Paho
// delivers on its own thread; messages_ is guarded by mu_).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mqtt {
class async_client;
}

namespace courier::testing {

struct MqttMessage {
  std::string topic;
  std::string payload;
  nlohmann::json json;  // the payload parsed; null when it is not JSON
  int qos = 0;
  bool retained = false;
  bool duplicate = false;
  std::chrono::steady_clock::time_point received_at;
};

// Where devices connect when a deployment has several brokers: the brokers' ports in list order
// and how users are assigned to them (TestStack::mqtt() makes one). A small value.
struct MqttTarget {
  std::string host = "127.0.0.1";
  std::vector<int> ports;     // the brokers, in list order
  bool by_user_hash = false;  // false: every user on ports[0]
  // The broker port of `user_id`: ports[0], or with by_user_hash the broker that
  // courier::BrokerRing (common/broker_ring.h, the servers' own assignment) picks among
  // "<host>:<port>" of every port. Throws std::invalid_argument for an empty or invalid list.
  int PortFor(std::string_view user_id) const;
};

// SUBACK code of a refused subscription (MQTT 3.1.1).
inline constexpr int kSubscriptionRefused = 0x80;

class MqttDevice {
 public:
  using Predicate = std::function<bool(const MqttMessage&)>;
  static constexpr std::chrono::milliseconds kDefaultTimeout{10000};

  // A device of one broker, whoever its user: for tests that address that broker on purpose.
  explicit MqttDevice(int port, std::string host = "127.0.0.1");
  // A device that meets its user's broker: Connect() picks target.PortFor(username).
  explicit MqttDevice(MqttTarget target);
  // Disconnects (cleanly) if connected.
  ~MqttDevice();
  MqttDevice(const MqttDevice&) = delete;
  MqttDevice& operator=(const MqttDevice&) = delete;

  // Connects with a clean session and the given keepalive, as the SDK does. True once the broker
  // accepted (CONNACK 0); false if it refused or did not answer within `timeout`, with the
  // reason in last_error(). A connected device is disconnected first.
  bool Connect(const std::string& client_id, const std::string& username,
               const std::string& password,
               std::chrono::seconds keepalive = std::chrono::seconds(30),
               std::chrono::milliseconds timeout = kDefaultTimeout);

  // True while the broker connection is up (false once the broker dropped it).
  bool Connected() const;
  // Waits until the broker has dropped the connection; true if it did within `timeout`.
  bool WaitForDisconnect(std::chrono::milliseconds timeout = kDefaultTimeout) const;
  // How many times the broker dropped a connection of this device.
  int connection_losses() const;

  // Subscribes to all `topics` at `qos` in one SUBSCRIBE. Returns the SUBACK's code per topic:
  // the granted QoS (0, 1, 2) or kSubscriptionRefused; empty if no SUBACK came in time (see
  // last_error()).
  std::vector<int> Subscribe(const std::vector<std::string>& topics, int qos = 1,
                             std::chrono::milliseconds timeout = kDefaultTimeout);
  bool Unsubscribe(const std::vector<std::string>& topics,
                   std::chrono::milliseconds timeout = kDefaultTimeout);
  // True when the publish completed (for QoS 1: PUBACK received). A broker that denies the
  // publish may still acknowledge it; check what subscribers got instead.
  bool Publish(const std::string& topic, const std::string& payload, int qos = 1,
               std::chrono::milliseconds timeout = kDefaultTimeout);
  // Sends DISCONNECT and closes; true if that went through (false if not connected).
  bool Disconnect(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

  // ----- What arrived, in arrival order.
  std::vector<MqttMessage> Messages() const;
  std::vector<MqttMessage> MessagesOn(const std::string& topic) const;
  size_t MessageCount() const;
  void ClearMessages();
  // Waits until at least `n` received messages satisfy `pred`; true if so within `timeout`.
  // `pred` runs with the message lock held: it must not call this device.
  bool WaitFor(const Predicate& pred, size_t n = 1,
               std::chrono::milliseconds timeout = kDefaultTimeout) const;
  // Waits until at least `n` messages in all have arrived.
  bool WaitForCount(size_t n, std::chrono::milliseconds timeout = kDefaultTimeout) const;

  // Why the last failed call failed ("" after a success).
  std::string last_error() const;
  const std::string& client_id() const { return client_id_; }
  // The broker of the last Connect() ("tcp://host:port"; the fixed one before any).
  const std::string& uri() const { return uri_; }

 private:
  void OnMessage(MqttMessage m);
  void OnConnectionLost(const std::string& cause);
  void SetError(std::string e) const;

  std::string uri_;
  std::optional<MqttTarget> target_;  // set: uri_ is chosen at Connect() from the username
  std::string client_id_;
  std::unique_ptr<mqtt::async_client> client_;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;  // signalled on every message and connection change
  std::vector<MqttMessage> messages_;   // GUARDED_BY(mu_)
  bool connected_ = false;              // GUARDED_BY(mu_)
  int losses_ = 0;                      // GUARDED_BY(mu_)
  mutable std::string last_error_;      // GUARDED_BY(mu_)
};

}  // namespace courier::testing
