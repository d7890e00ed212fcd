// The entry points Mosquitto 2.0 looks up in courier_broker_auth.so (plugin interface version
// 5): read the options, build the plugin, register its callbacks; and undo it all at shutdown.
//
// mosquitto.conf:
//   per_listener_settings false
//   allow_anonymous false
//   plugin /path/to/courier_broker_auth.so
//   plugin_opt_jwt_secret_file /etc/courier/jwt_secret
//   (the other plugin_opt_* are in plugin_options.h)
//
// No exception leaves a callback: a failure denies (auth, ACL) or is logged and ignored.

#include <mosquitto.h>  // MOSQ_ERR_*, MOSQ_LOG_*
#pragma GCC visibility push(default)
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#pragma GCC visibility pop

#include <exception>
#include <iterator>
#include <memory>
#include <string>
#include <utility>

#include "common/status.h"
#include "downlink/broker_plugin/broker_auth_plugin.h"
#include "downlink/broker_plugin/control_command.h"
#include "downlink/broker_plugin/plugin_options.h"

namespace courier::broker {

namespace {

// Calls `Handler` on the plugin; an exception becomes `kOnFailure` and a log line.
template <typename Event, int (BrokerAuthPlugin::*Handler)(const Event&), int kOnFailure>
int Dispatch(int /*event*/, void* event_data, void* userdata) {
  if (event_data == nullptr || userdata == nullptr) return kOnFailure;
  try {
    auto* plugin = static_cast<BrokerAuthPlugin*>(userdata);
    return (plugin->*Handler)(*static_cast<const Event*>(event_data));
  } catch (const std::exception& e) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "courier: internal error (%s); failing safe", e.what());
  } catch (...) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "courier: internal error; failing safe");
  }
  return kOnFailure;
}

struct Registration {
  int event;
  const char* name;
  MOSQ_FUNC_generic_callback callback;
  const void* event_data;  // MOSQ_EVT_CONTROL: the topic
};

const Registration kRegistrations[] = {
    {MOSQ_EVT_BASIC_AUTH, "basic_auth",
     &Dispatch<mosquitto_evt_basic_auth, &BrokerAuthPlugin::OnBasicAuth, MOSQ_ERR_AUTH>, nullptr},
    {MOSQ_EVT_ACL_CHECK, "acl_check",
     &Dispatch<mosquitto_evt_acl_check, &BrokerAuthPlugin::OnAclCheck, MOSQ_ERR_ACL_DENIED>,
     nullptr},
    {MOSQ_EVT_DISCONNECT, "disconnect",
     &Dispatch<mosquitto_evt_disconnect, &BrokerAuthPlugin::OnDisconnect, MOSQ_ERR_SUCCESS>,
     nullptr},
    {MOSQ_EVT_TICK, "tick",
     &Dispatch<mosquitto_evt_tick, &BrokerAuthPlugin::OnTick, MOSQ_ERR_SUCCESS>, nullptr},
    // MOSQ_ERR_SUCCESS even on failure: Mosquitto 2.0 disconnects a client whose $CONTROL
    // publish returns an error, and the sender is the downlink.
    {MOSQ_EVT_CONTROL, "control",
     &Dispatch<mosquitto_evt_control, &BrokerAuthPlugin::OnControl, MOSQ_ERR_SUCCESS>,
     kControlTopic.data()},
    {MOSQ_EVT_RELOAD, "reload",
     &Dispatch<mosquitto_evt_reload, &BrokerAuthPlugin::OnReload, MOSQ_ERR_SUCCESS>, nullptr},
};

// The plugin and the identifier its callbacks are registered under.
struct PluginInstance {
  mosquitto_plugin_id_t* id;
  std::unique_ptr<BrokerAuthPlugin> plugin;
};

void UnregisterCallbacks(mosquitto_plugin_id_t* id, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    const Registration& r = kRegistrations[i];
    mosquitto_callback_unregister(id, r.event, r.callback, r.event_data);
  }
}

// Registers every callback; on failure none stays registered.
Status RegisterCallbacks(mosquitto_plugin_id_t* id, BrokerAuthPlugin* plugin) {
  for (size_t i = 0; i < std::size(kRegistrations); ++i) {
    const Registration& r = kRegistrations[i];
    int rc = mosquitto_callback_register(id, r.event, r.callback, r.event_data, plugin);
    if (rc != MOSQ_ERR_SUCCESS) {
      UnregisterCallbacks(id, i);
      return Status::Internal("cannot register the " + std::string(r.name) +
                              " callback (mosquitto error " + std::to_string(rc) + ")");
    }
  }
  return Status::Ok();
}

int Init(mosquitto_plugin_id_t* id, void** userdata, mosquitto_opt* options, int option_count) {
  OptionList list;
  for (int i = 0; options != nullptr && i < option_count; ++i) {
    list.emplace_back(options[i].key == nullptr ? "" : options[i].key,
                      options[i].value == nullptr ? "" : options[i].value);
  }
  Result<PluginOptions> parsed = ParsePluginOptions(list);
  if (!parsed.ok()) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "courier: plugin init failed: %s",
                         parsed.status().message().c_str());
    return MOSQ_ERR_INVAL;
  }
  Result<AccessPolicy> policy = BrokerAuthPlugin::LoadPolicy(*parsed);
  if (!policy.ok()) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "courier: plugin init failed: %s",
                         policy.status().message().c_str());
    return MOSQ_ERR_INVAL;
  }
  Result<BrokerAssignment> assignment = LoadBrokerAssignment(*parsed);
  if (!assignment.ok()) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "courier: plugin init failed: %s",
                         assignment.status().message().c_str());
    return MOSQ_ERR_INVAL;
  }
  if (!assignment->lists_self()) {
    // At start a typo is likelier than a broker being taken out: it would refuse every device.
    mosquitto_log_printf(MOSQ_LOG_ERR,
                         "courier: plugin init failed: plugin_opt_broker_id %s is not in the "
                         "broker list",
                         parsed->broker_id.c_str());
    return MOSQ_ERR_INVAL;
  }
  const std::string brokers = assignment->ToString();
  auto instance = std::make_unique<PluginInstance>(
      PluginInstance{id, std::make_unique<BrokerAuthPlugin>(std::move(*parsed), std::move(*policy),
                                                            std::move(*assignment))});
  if (Status s = RegisterCallbacks(id, instance->plugin.get()); !s.ok()) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "courier: plugin init failed: %s", s.message().c_str());
    return MOSQ_ERR_UNKNOWN;
  }
  instance->plugin->ProbeRedis();
  const PluginOptions& o = instance->plugin->options();
  std::string redis = o.redis_host + ":" + std::to_string(o.redis_port);
  if (!o.redis_cluster.empty()) {
    redis = "cluster:";
    for (const RedisNodeAddress& seed : o.redis_cluster) redis += " " + seed.ToString();
  }
  mosquitto_log_printf(MOSQ_LOG_NOTICE,
                       "courier: plugin ready topic_root=%s service_user=%s redis=%s "
                       "redis_timeout_ms=%d presence_ttl_s=%d shards=%d secrets=%d brokers=%s",
                       o.topic_root.c_str(), o.service_user.c_str(), redis.c_str(),
                       o.redis_timeout_ms, o.presence_ttl_s, o.shards,
                       o.jwt_previous_secret_file.empty() ? 1 : 2, brokers.c_str());
  *userdata = instance.release();
  return MOSQ_ERR_SUCCESS;
}

void Cleanup(void* userdata) {
  std::unique_ptr<PluginInstance> instance(static_cast<PluginInstance*>(userdata));
  if (!instance) return;
  // Unregister first: Mosquitto may still tear down clients after this returns.
  UnregisterCallbacks(instance->id, std::size(kRegistrations));
  instance->plugin->OnShutdown();
}

}  // namespace

}  // namespace courier::broker

extern "C" {

int mosquitto_plugin_version(int supported_version_count, const int* supported_versions) {
  for (int i = 0; supported_versions != nullptr && i < supported_version_count; ++i) {
    if (supported_versions[i] == MOSQ_PLUGIN_VERSION) return MOSQ_PLUGIN_VERSION;
  }
  return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t* identifier, void** userdata,
                          struct mosquitto_opt* options, int option_count) {
  try {
    return courier::broker::Init(identifier, userdata, options, option_count);
  } catch (const std::exception& e) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "courier: plugin init failed: %s", e.what());
  } catch (...) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "courier: plugin init failed");
  }
  return MOSQ_ERR_UNKNOWN;
}

int mosquitto_plugin_cleanup(void* userdata, struct mosquitto_opt* /*options*/,
                             int /*option_count*/) {
  try {
    courier::broker::Cleanup(userdata);
  } catch (...) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "courier: error while stopping the plugin");
  }
  return MOSQ_ERR_SUCCESS;
}

}  // extern "C"
