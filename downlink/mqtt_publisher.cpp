#include "downlink/mqtt_publisher.h"

#include <mqtt/async_client.h>

#include <utility>

#include "common/log.h"

namespace courier {

namespace {

constexpr int kConnectTimeoutMs = 3000;
constexpr int64_t kServiceTokenTtlS = 3600;
constexpr int kMaxBufferedMessages = 65535;

}  // namespace

MqttPublisher::MqttPublisher(MqttConfig config, std::string client_id, const JwtCodec* jwt,
                             const Clock* clock)
    : config_(std::move(config)), client_id_(std::move(client_id)), jwt_(jwt), clock_(clock) {}

MqttPublisher::~MqttPublisher() {
  if (client_ == nullptr) return;
  try {
    if (client_->is_connected()) client_->disconnect()->wait_for(1000);
  } catch (const mqtt::exception&) {
  }
}

std::string MqttPublisher::uri() const {
  return "tcp://" + config_.host + ":" + std::to_string(config_.port);
}

void MqttPublisher::StartConnect() {
  // Paho refuses publishes beyond maxBufferedMessages (default 100) with error -12; a batch
  // holds up to a few hundred, so allow plenty.
  mqtt::create_options create(MQTTVERSION_3_1_1, kMaxBufferedMessages);
  connect_token_.reset();
  client_ = std::make_unique<mqtt::async_client>(uri(), client_id_, create, nullptr);
  TokenClaims service;
  service.user_id = config_.service_user;
  service.role = "service";
  service.issued_at = clock_->NowMs() / 1000;
  service.expires_at = service.issued_at + kServiceTokenTtlS;
  mqtt::connect_options opts;
  opts.set_clean_session(true);
  opts.set_keep_alive_interval(std::chrono::seconds(30));
  opts.set_user_name(config_.service_user);
  opts.set_password(jwt_->Sign(service));
  opts.set_automatic_reconnect(false);
  opts.set_max_inflight(65535);
  connect_token_ = client_->connect(opts);
  connect_deadline_ =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kConnectTimeoutMs);
}

void MqttPublisher::OnConnected() {
  connect_token_.reset();
  spdlog::info("connected to broker {} as {}", uri(), config_.service_user);
  reconnected_ = true;
}

Status MqttPublisher::EnsureConnected() {
  try {
    if (connected()) return Status::Ok();
    StartConnect();
    if (!connect_token_->wait_for(kConnectTimeoutMs)) {
      connect_token_.reset();
      return Status::Unavailable("broker " + uri() + ": no CONNACK in time");
    }
    OnConnected();
    return Status::Ok();
  } catch (const mqtt::exception& e) {
    connect_token_.reset();
    return Status::Unavailable(std::string("broker: ") + e.what());
  }
}

Result<bool> MqttPublisher::ConnectWithoutWaiting() {
  try {
    if (connect_token_ == nullptr) {
      if (connected()) return true;
      StartConnect();
    }
    if (connected()) {
      OnConnected();
      return true;
    }
    if (connect_token_->is_complete()) {
      connect_token_.reset();
      return Status::Unavailable("broker " + uri() + " refused or closed the connection");
    }
    if (std::chrono::steady_clock::now() >= connect_deadline_) {
      connect_token_.reset();
      client_.reset();  // abandon the attempt; the next call starts a new one
      return Status::Unavailable("broker " + uri() + ": no CONNACK in time");
    }
    return false;
  } catch (const mqtt::exception& e) {
    connect_token_.reset();
    return Status::Unavailable("broker " + uri() + ": " + e.what());
  }
}

std::vector<bool> MqttPublisher::PublishAll(const std::vector<OutgoingMessage>& messages,
                                            int timeout_ms) {
  std::vector<const OutgoingMessage*> all;
  all.reserve(messages.size());
  for (const OutgoingMessage& m : messages) all.push_back(&m);
  Begin(all);
  return Await(std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms));
}

bool MqttPublisher::TakeReconnected() { return std::exchange(reconnected_, false); }

bool MqttPublisher::connected() const {
  try {
    return client_ != nullptr && client_->is_connected();
  } catch (const mqtt::exception&) {
    return false;
  }
}

void MqttPublisher::Begin(const std::vector<const OutgoingMessage*>& messages) {
  in_flight_.assign(messages.size(), nullptr);
  in_flight_topics_.clear();
  for (const OutgoingMessage* m : messages) in_flight_topics_.push_back(m->topic);
  if (client_ == nullptr) return;
  for (size_t i = 0; i < messages.size(); ++i) {
    try {
      in_flight_[i] = client_->publish(messages[i]->topic, messages[i]->payload.data(),
                                       messages[i]->payload.size(), 1, false);
    } catch (const mqtt::exception& e) {
      spdlog::warn("publish to {} failed: {}", messages[i]->topic, e.what());
      break;  // keep order: nothing after a failed publish goes out in this batch
    }
  }
}

std::vector<bool> MqttPublisher::Await(std::chrono::steady_clock::time_point deadline) {
  std::vector<bool> acked(in_flight_.size(), false);
  for (size_t i = 0; i < in_flight_.size() && in_flight_[i] != nullptr; ++i) {
    try {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      acked[i] = in_flight_[i]->wait_for(std::max(left, std::chrono::milliseconds(0)));
    } catch (const mqtt::exception& e) {
      spdlog::warn("no PUBACK for {}: {}", in_flight_topics_[i], e.what());
    }
  }
  in_flight_.clear();
  in_flight_topics_.clear();
  return acked;
}

}  // namespace courier
