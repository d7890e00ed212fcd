#include "downlink/broker_plugin/plugin_options.h"

#include <cctype>
#include <charconv>
#include <fstream>

#include "common/broker_list.h"
#include "common/ids.h"
#include "downlink/broker_plugin/access_policy.h"
#include "downlink/broker_plugin/log_text.h"

namespace courier::broker {

namespace {

Status ParseInt(std::string_view key, std::string_view text, int min, int max, int* out) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    return Status::InvalidField("plugin_opt_" + std::string(key) + " must be an integer from " +
                                std::to_string(min) + " to " + std::to_string(max));
  }
  *out = value;
  return Status::Ok();
}

}  // namespace

Result<PluginOptions> ParsePluginOptions(const OptionList& options) {
  PluginOptions o;
  for (const auto& [key, value] : options) {
    Status s;
    if (key == "jwt_secret_file") {
      o.jwt_secret_file = value;
    } else if (key == "jwt_previous_secret_file") {
      o.jwt_previous_secret_file = value;
    } else if (key == "redis_host") {
      o.redis_host = value;
    } else if (key == "redis_port") {
      s = ParseInt(key, value, 1, 65535, &o.redis_port);
    } else if (key == "redis_cluster") {
      Result<std::vector<RedisNodeAddress>> seeds = ParseRedisSeedList(value);
      if (seeds.ok()) {
        o.redis_cluster = std::move(*seeds);
      } else {
        s = Status::InvalidField("plugin_opt_redis_cluster: " + seeds.status().message());
      }
    } else if (key == "redis_timeout_ms") {
      s = ParseInt(key, value, 1, 60000, &o.redis_timeout_ms);
    } else if (key == "topic_root") {
      o.topic_root = value;
    } else if (key == "service_user") {
      o.service_user = value;
    } else if (key == "presence_ttl_s") {
      // At least 3 s: the plugin refreshes online marks every ttl/3 (30 s at most).
      s = ParseInt(key, value, 3, 86400, &o.presence_ttl_s);
    } else if (key == "shards") {
      // The same range as the uplink's and downlink's delivery_shards (common/config.cpp).
      s = ParseInt(key, value, 1, 1024, &o.shards);
    } else if (key == "brokers_file") {
      o.brokers_file = value;
    } else if (key == "brokers") {
      o.brokers = value;
    } else if (key == "broker_id") {
      o.broker_id = value;
    } else {
      s = Status::InvalidField("unknown option plugin_opt_" + PrintableForLog(key, 64));
    }
    if (!s.ok()) return s;
  }
  if (o.jwt_secret_file.empty()) {
    return Status::InvalidField("plugin_opt_jwt_secret_file is required");
  }
  if (o.redis_host.empty()) return Status::InvalidField("plugin_opt_redis_host is empty");
  if (!IsValidTopicRoot(o.topic_root)) {
    return Status::InvalidField(
        "plugin_opt_topic_root must be non-empty, without + # or a leading or trailing /");
  }
  if (!IsValidId(o.service_user)) {
    return Status::InvalidField(
        "plugin_opt_service_user must be 1-64 characters of [A-Za-z0-9_.-]");
  }
  const bool sharded = !o.brokers_file.empty() || !o.brokers.empty();
  if (sharded && o.broker_id.empty()) {
    return Status::InvalidField(
        "plugin_opt_broker_id (this broker's host:port in the list) is required with "
        "plugin_opt_brokers_file or plugin_opt_brokers");
  }
  if (!o.broker_id.empty()) {
    if (!sharded) {
      return Status::InvalidField(
          "plugin_opt_broker_id needs plugin_opt_brokers_file or plugin_opt_brokers");
    }
    if (Result<BrokerAddress> id = ParseBrokerAddress(o.broker_id); !id.ok()) {
      return Status::InvalidField("plugin_opt_broker_id: " + id.status().message());
    }
  }
  return o;
}

Result<BrokerAssignment> LoadBrokerAssignment(const PluginOptions& options) {
  if (options.brokers_file.empty() && options.brokers.empty()) return BrokerAssignment();
  MqttConfig mqtt;
  mqtt.brokers_file = options.brokers_file;
  mqtt.brokers = options.brokers;
  Result<BrokerList> list = LoadBrokerList(mqtt);
  if (!list.ok()) return list.status();
  Result<BrokerAddress> self = ParseBrokerAddress(options.broker_id);
  if (!self.ok()) return Status::InvalidField("plugin_opt_broker_id: " + self.status().message());
  return BrokerAssignment(std::move(*list), std::move(*self));
}

}  // namespace courier::broker
