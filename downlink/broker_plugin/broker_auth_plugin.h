// The adapter between Mosquitto's plugin events and Courier's broker logic: who may connect,
// what each connection may subscribe to, publish and receive, the online state of devices, and
// kicks (SPEC §4). The decisions live in access_policy.h, the Redis work in
// redis_presence_store.h, the connection bookkeeping in client_registry.h; plugin_main.cpp
// registers the On* methods with Mosquitto.
//
// Thread-safety: not thread-safe. Mosquitto calls every plugin callback on its single main
// thread, so the plugin holds no locks; a Redis call blocks that thread for at most
// plugin_opt_redis_timeout_ms.
#pragma once

#pragma GCC visibility push(default)
#include <mosquitto_broker.h>
#pragma GCC visibility pop

#include <cstdint>

#include "common/status.h"
#include "downlink/broker_plugin/access_policy.h"
#include "downlink/broker_plugin/client_registry.h"
#include "downlink/broker_plugin/plugin_options.h"
#include "downlink/broker_plugin/redis_presence_store.h"

namespace courier::broker {

class BrokerAuthPlugin {
 public:
  BrokerAuthPlugin(PluginOptions options, AccessPolicy policy);
  BrokerAuthPlugin(const BrokerAuthPlugin&) = delete;
  BrokerAuthPlugin& operator=(const BrokerAuthPlugin&) = delete;

  // The policy with the secrets of the files the options name (the current secret signs, a
  // previous one also verifies). InvalidField when a file can't be read or is empty.
  static Result<AccessPolicy> LoadPolicy(const PluginOptions& options);

  // The event handlers. Each returns what Mosquitto expects for its event:
  // OnBasicAuth: MOSQ_ERR_SUCCESS to let the client in; MOSQ_ERR_AUTH for bad credentials or an
  //   ended session (CONNACK "not authorized"); MOSQ_ERR_UNKNOWN when Redis fails (Mosquitto
  //   closes the connection without a CONNACK, which clients treat as transient and retry).
  // OnAclCheck: MOSQ_ERR_SUCCESS or MOSQ_ERR_ACL_DENIED.
  // The others: always MOSQ_ERR_SUCCESS; problems are logged.
  int OnBasicAuth(const mosquitto_evt_basic_auth& event);
  int OnAclCheck(const mosquitto_evt_acl_check& event);
  int OnDisconnect(const mosquitto_evt_disconnect& event);
  int OnTick(const mosquitto_evt_tick& event);
  int OnControl(const mosquitto_evt_control& event);
  int OnReload(const mosquitto_evt_reload& event);

  // Logs whether Redis answers now; devices are refused while it doesn't.
  void ProbeRedis();
  // The broker is stopping: marks the devices still connected offline, since Mosquitto 2.0
  // reports no DISCONNECT for them.
  void OnShutdown();

  const PluginOptions& options() const { return options_; }

 private:
  PluginOptions options_;
  AccessPolicy policy_;  // replaced on reload, when the secret files are read again
  RedisPresenceStore presence_;
  ClientRegistry clients_;
  int64_t refresh_interval_ms_;
  int64_t next_refresh_steady_ms_ = 0;
};

}  // namespace courier::broker
