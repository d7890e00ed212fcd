#include "client/mqtt_link.h"

#include <MQTTAsync.h>

#include <mqtt/async_client.h>

namespace courier::client {

namespace {

// CONNACK return codes of MQTT 3.1.1 that no retry with the same credentials can change.
constexpr int kConnackBadCredentials = 4;
constexpr int kConnackNotAuthorized = 5;

std::string Ms(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

std::string Joined(const std::vector<std::string>& topics) {
  std::string out;
  for (const std::string& t : topics) out += (out.empty() ? "" : ", ") + t;
  return out;
}

}  // namespace

MqttLink::MqttLink(MqttLinkOptions options, MessageHandler on_message, LostHandler on_lost)
    : options_(std::move(options)),
      uri_("tcp://" + options_.host + ":" + std::to_string(options_.port)),
      on_message_(std::move(on_message)),
      on_lost_(std::move(on_lost)) {}

MqttLink::~MqttLink() {
  Disconnect(std::chrono::milliseconds(1000));
  if (!client_) return;
  try {
    // Paho's thread must be done with the handlers before they are destroyed.
    client_->disable_callbacks();
  } catch (const std::exception&) {
  }
  client_.reset();
}

Status MqttLink::Connect(std::chrono::milliseconds timeout) {
  if (client_) return Status::Internal("MqttLink::Connect called twice");
  try {
    client_ = std::make_unique<mqtt::async_client>(uri_, options_.client_id);
    client_->set_message_callback([this](mqtt::const_message_ptr msg) {
      on_message_(msg->get_topic(), msg->get_payload_str());
    });
    client_->set_connection_lost_handler([this](const std::string& cause) {
      on_lost_(cause.empty() ? std::string("connection lost") : cause);
    });
    auto connect_timeout = std::chrono::duration_cast<std::chrono::seconds>(timeout);
    if (connect_timeout.count() < 1) connect_timeout = std::chrono::seconds(1);
    auto options = mqtt::connect_options_builder()
                       .mqtt_version(MQTTVERSION_3_1_1)
                       .clean_session(true)
                       .keep_alive_interval(options_.keepalive)
                       .connect_timeout(connect_timeout)
                       .user_name(options_.username)
                       .password(options_.password)
                       .automatic_reconnect(false)
                       .finalize();
    if (!client_->connect(options)->wait_for(timeout)) {
      return Status::Unavailable("no CONNACK from " + uri_ + " within " + Ms(timeout));
    }
    return Status::Ok();
  } catch (const mqtt::exception& e) {
    int rc = e.get_return_code();
    if (rc == kConnackBadCredentials || rc == kConnackNotAuthorized) {
      return Status::Unauthorized("broker " + uri_ + " refused the session: " + e.what());
    }
    return Status::Unavailable("cannot connect to " + uri_ + ": " + e.what());
  } catch (const std::exception& e) {
    return Status::Unavailable("cannot connect to " + uri_ + ": " + e.what());
  }
}

Status MqttLink::Subscribe(const std::vector<std::string>& topics, int qos,
                           std::chrono::milliseconds timeout) {
  if (!client_) return Status::Internal("MqttLink::Subscribe before Connect");
  try {
    auto filters = mqtt::string_collection::create(topics);
    mqtt::iasync_client::qos_collection qoss(topics.size(), qos);
    mqtt::token_ptr token = client_->subscribe(filters, qoss);
    if (!token->wait_for(timeout)) {
      return Status::Unavailable("no SUBACK from " + uri_ + " within " + Ms(timeout));
    }
    // Held in a local: a range-for over a member of the temporary would dangle (before C++23).
    const mqtt::subscribe_response response = token->get_subscribe_response();
    for (mqtt::ReasonCode rc : response.get_reason_codes()) {
      if (static_cast<int>(rc) >= 0x80) {
        return Status::Forbidden("the broker refused a subscription to " + Joined(topics));
      }
    }
    return Status::Ok();
  } catch (const mqtt::exception& e) {
    // Paho C reports a SUBACK that refuses a filter as a failure with code 0x80.
    if (e.get_return_code() == MQTT_BAD_SUBSCRIBE || e.get_reason_code() == MQTT_BAD_SUBSCRIBE) {
      return Status::Forbidden("the broker refused a subscription to " + Joined(topics));
    }
    return Status::Unavailable("subscribe failed on " + uri_ + ": " + e.what());
  } catch (const std::exception& e) {
    return Status::Unavailable("subscribe failed on " + uri_ + ": " + e.what());
  }
}

Status MqttLink::Unsubscribe(const std::vector<std::string>& topics,
                             std::chrono::milliseconds timeout) {
  if (!client_) return Status::Internal("MqttLink::Unsubscribe before Connect");
  try {
    mqtt::token_ptr token = client_->unsubscribe(mqtt::string_collection::create(topics));
    if (!token->wait_for(timeout)) {
      return Status::Unavailable("no UNSUBACK from " + uri_ + " within " + Ms(timeout));
    }
    return Status::Ok();
  } catch (const std::exception& e) {
    return Status::Unavailable("unsubscribe failed on " + uri_ + ": " + e.what());
  }
}

void MqttLink::Disconnect(std::chrono::milliseconds timeout) {
  if (!client_) return;
  try {
    if (client_->is_connected()) client_->disconnect()->wait_for(timeout);
  } catch (const std::exception&) {
    // Already gone: nothing to tell the broker.
  }
}

}  // namespace courier::client
