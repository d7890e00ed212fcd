#include "tests/support/mqtt_device.h"

#include <MQTTAsync.h>

#include <mqtt/async_client.h>
#include <algorithm>
#include <stdexcept>

#include "common/broker_ring.h"

namespace courier::testing {

namespace {
std::string Uri(const std::string& host, int port) {
  return "tcp://" + host + ":" + std::to_string(port);
}
}  // namespace

int MqttTarget::PortFor(std::string_view user_id) const {
  if (ports.empty()) throw std::invalid_argument("MqttTarget: no broker ports");
  if (!by_user_hash) return ports.front();
  std::vector<BrokerAddress> brokers;
  for (int port : ports) {
    Result<BrokerAddress> a = ParseBrokerAddress(host + ":" + std::to_string(port));
    if (!a.ok()) throw std::invalid_argument("MqttTarget: " + a.status().ToString());
    brokers.push_back(std::move(*a));
  }
  Result<BrokerRing> ring = BrokerRing::Create(std::move(brokers));
  if (!ring.ok()) throw std::invalid_argument("MqttTarget: " + ring.status().ToString());
  return ring->BrokerFor(user_id).port;
}

MqttDevice::MqttDevice(int port, std::string host) : uri_(Uri(host, port)) {}

MqttDevice::MqttDevice(MqttTarget target)
    : uri_(Uri(target.host, target.ports.empty() ? 0 : target.ports.front())),
      target_(std::move(target)) {}

MqttDevice::~MqttDevice() {
  Disconnect(std::chrono::milliseconds(2000));
  // Paho's threads must be done with `this` before the members they touch are destroyed.
  if (client_) {
    client_->disable_callbacks();
    client_.reset();
  }
}

bool MqttDevice::Connect(const std::string& client_id, const std::string& username,
                         const std::string& password, std::chrono::seconds keepalive,
                         std::chrono::milliseconds timeout) {
  if (client_) {
    Disconnect();
    client_->disable_callbacks();
    client_.reset();
  }
  client_id_ = client_id;
  if (target_) uri_ = Uri(target_->host, target_->PortFor(username));
  try {
    client_ = std::make_unique<mqtt::async_client>(uri_, client_id);
    client_->set_message_callback([this](mqtt::const_message_ptr msg) {
      MqttMessage m;
      m.topic = msg->get_topic();
      m.payload = msg->get_payload_str();
      m.json = nlohmann::json::parse(m.payload, nullptr, /*allow_exceptions=*/false);
      if (m.json.is_discarded()) m.json = nullptr;
      m.qos = msg->get_qos();
      m.retained = msg->is_retained();
      m.duplicate = msg->is_duplicate();
      m.received_at = std::chrono::steady_clock::now();
      OnMessage(std::move(m));
    });
    client_->set_connection_lost_handler(
        [this](const std::string& cause) { OnConnectionLost(cause); });

    auto options = mqtt::connect_options_builder()
                       .mqtt_version(MQTTVERSION_3_1_1)
                       .clean_session(true)
                       .keep_alive_interval(keepalive)
                       .connect_timeout(std::chrono::duration_cast<std::chrono::seconds>(timeout))
                       .user_name(username)
                       .password(password)
                       .automatic_reconnect(false)
                       .finalize();
    if (!client_->connect(options)->wait_for(timeout)) {
      SetError("no CONNACK within " + std::to_string(timeout.count()) + " ms");
      return false;
    }
  } catch (const mqtt::exception& e) {
    // A refused CONNECT lands here: e.g. return code 5, "not authorized".
    SetError(std::string("connect refused: ") + e.what());
    return false;
  }
  std::lock_guard<std::mutex> lock(mu_);
  connected_ = true;
  last_error_.clear();
  cv_.notify_all();
  return true;
}

bool MqttDevice::Connected() const {
  std::lock_guard<std::mutex> lock(mu_);
  return connected_;
}

bool MqttDevice::WaitForDisconnect(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [this] { return !connected_; });
}

int MqttDevice::connection_losses() const {
  std::lock_guard<std::mutex> lock(mu_);
  return losses_;
}

std::vector<int> MqttDevice::Subscribe(const std::vector<std::string>& topics, int qos,
                                       std::chrono::milliseconds timeout) {
  if (!client_ || topics.empty()) {
    SetError(client_ ? "no topics" : "not connected");
    return {};
  }
  try {
    auto filters = mqtt::string_collection::create(topics);
    mqtt::iasync_client::qos_collection qoss(topics.size(), qos);
    mqtt::token_ptr token = client_->subscribe(filters, qoss);
    if (!token->wait_for(timeout)) {
      SetError("no SUBACK within " + std::to_string(timeout.count()) + " ms");
      return {};
    }
    // Held in a local: a range-for over a member of the temporary would dangle (before C++23).
    const mqtt::subscribe_response response = token->get_subscribe_response();
    std::vector<int> codes;
    for (mqtt::ReasonCode rc : response.get_reason_codes()) {
      codes.push_back(static_cast<int>(rc));
    }
    SetError("");
    return codes;
  } catch (const mqtt::exception& e) {
    // Paho C turns a SUBACK that refuses a single topic into a failure with code 0x80.
    if (e.get_return_code() == MQTT_BAD_SUBSCRIBE || e.get_reason_code() == MQTT_BAD_SUBSCRIBE) {
      SetError("");
      return std::vector<int>(topics.size(), kSubscriptionRefused);
    }
    SetError(std::string("subscribe failed: ") + e.what());
    return {};
  }
}

bool MqttDevice::Unsubscribe(const std::vector<std::string>& topics,
                             std::chrono::milliseconds timeout) {
  if (!client_) {
    SetError("not connected");
    return false;
  }
  try {
    if (client_->unsubscribe(mqtt::string_collection::create(topics))->wait_for(timeout)) {
      SetError("");
      return true;
    }
    SetError("no UNSUBACK within " + std::to_string(timeout.count()) + " ms");
  } catch (const mqtt::exception& e) {
    SetError(std::string("unsubscribe failed: ") + e.what());
  }
  return false;
}

bool MqttDevice::Publish(const std::string& topic, const std::string& payload, int qos,
                         std::chrono::milliseconds timeout) {
  if (!client_) {
    SetError("not connected");
    return false;
  }
  try {
    if (client_->publish(topic, payload.data(), payload.size(), qos, false)->wait_for(timeout)) {
      SetError("");
      return true;
    }
    SetError("publish not completed within " + std::to_string(timeout.count()) + " ms");
  } catch (const mqtt::exception& e) {
    SetError(std::string("publish failed: ") + e.what());
  }
  return false;
}

bool MqttDevice::Disconnect(std::chrono::milliseconds timeout) {
  if (!client_) return false;
  bool ok = false;
  try {
    if (client_->is_connected()) ok = client_->disconnect()->wait_for(timeout);
  } catch (const mqtt::exception& e) {
    SetError(std::string("disconnect failed: ") + e.what());
  }
  std::lock_guard<std::mutex> lock(mu_);
  connected_ = false;
  cv_.notify_all();
  return ok;
}

std::vector<MqttMessage> MqttDevice::Messages() const {
  std::lock_guard<std::mutex> lock(mu_);
  return messages_;
}

std::vector<MqttMessage> MqttDevice::MessagesOn(const std::string& topic) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<MqttMessage> out;
  std::copy_if(messages_.begin(), messages_.end(), std::back_inserter(out),
               [&topic](const MqttMessage& m) { return m.topic == topic; });
  return out;
}

size_t MqttDevice::MessageCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return messages_.size();
}

void MqttDevice::ClearMessages() {
  std::lock_guard<std::mutex> lock(mu_);
  messages_.clear();
}

bool MqttDevice::WaitFor(const Predicate& pred, size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] {
    return static_cast<size_t>(std::count_if(messages_.begin(), messages_.end(), pred)) >= n;
  });
}

bool MqttDevice::WaitForCount(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return messages_.size() >= n; });
}

std::string MqttDevice::last_error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_error_;
}

void MqttDevice::OnMessage(MqttMessage m) {
  std::lock_guard<std::mutex> lock(mu_);
  messages_.push_back(std::move(m));
  cv_.notify_all();
}

void MqttDevice::OnConnectionLost(const std::string& cause) {
  std::lock_guard<std::mutex> lock(mu_);
  connected_ = false;
  ++losses_;
  last_error_ = "connection lost" + (cause.empty() ? std::string() : ": " + cause);
  cv_.notify_all();
}

void MqttDevice::SetError(std::string e) const {
  std::lock_guard<std::mutex> lock(mu_);
  last_error_ = std::move(e);
}

}  // namespace courier::testing
