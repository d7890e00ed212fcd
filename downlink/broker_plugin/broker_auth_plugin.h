// The adapter between Mosquitto's plugin events and Courier's broker logic: who may connect,
// what each connection may subscribe to, publish and receive (rooms included), the online state
// of devices and the presence tasks it implies, kicks and room leaves (SPEC §4). The decisions
// live in access_policy.h and control_command.h, the Redis work in redis_presence_store.h and
// redis_room_membership.h, the connection bookkeeping in client_registry.h; plugin_main.cpp
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
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "downlink/broker_plugin/access_policy.h"
#include "downlink/broker_plugin/bounded_redis_connection.h"
#include "downlink/broker_plugin/broker_assignment.h"
#include "downlink/broker_plugin/client_registry.h"
#include "downlink/broker_plugin/control_command.h"
#include "downlink/broker_plugin/plugin_options.h"
#include "downlink/broker_plugin/redis_presence_store.h"
#include "downlink/broker_plugin/redis_room_membership.h"

namespace courier::broker {

class BrokerAuthPlugin {
 public:
  // `assignment`: which users belong on this broker (LoadBrokerAssignment).
  BrokerAuthPlugin(PluginOptions options, AccessPolicy policy, BrokerAssignment assignment);
  BrokerAuthPlugin(const BrokerAuthPlugin&) = delete;
  BrokerAuthPlugin& operator=(const BrokerAuthPlugin&) = delete;

  // The policy with the secrets of the files the options name (the current secret signs, a
  // previous one also verifies). InvalidField when a file can't be read or is empty.
  static Result<AccessPolicy> LoadPolicy(const PluginOptions& options);

  // The event handlers. Each returns what Mosquitto expects for its event:
  // OnBasicAuth: MOSQ_ERR_SUCCESS to let the client in; MOSQ_ERR_AUTH for bad credentials, an
  //   ended session or a user assigned to another broker (CONNACK "not authorized");
  //   MOSQ_ERR_UNKNOWN when Redis fails (Mosquitto closes the connection without a CONNACK, which
  //   clients treat as transient and retry).
  // OnAclCheck: MOSQ_ERR_SUCCESS or MOSQ_ERR_ACL_DENIED. A device's room SUBSCRIBE asks Redis
  //   (denied when Redis fails); every other check, READ above all, is answered from memory.
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
  AclDecision CheckRoomSubscribe(const mosquitto* client, const ClientIdentity& who,
                                 std::string_view room_id);
  // Schedules the kick kKickGraceMs ahead: the downlink publishes session.kicked to the device
  // just before the kick command, and disconnecting at once would drop that notice while it is
  // still queued for the device.
  void Kick(const ControlCommand& command, const ClientIdentity& sender);
  // Carries out the scheduled kicks that are due (from OnTick).
  void RunDueKicks(int64_t now_steady_ms);
  // Disconnects the devices whose token has expired (from OnTick, once a second): a token is
  // checked at CONNECT, and a connection must not outlive what the uplink would accept. The
  // device's reconnect with that token is refused (CONNACK 5); it logs in again.
  void DropExpired(int64_t now_wall_ms);
  void LeaveRoom(const ControlCommand& command, const ClientIdentity& sender);
  // Reads the broker list again; when it changed, tells every connected device whose user now
  // belongs on another broker (broker.moved on its device topic) and schedules its disconnect.
  void ReloadBrokerAssignment();
  // Marks the devices offline and queues a presence task for each user who went offline. OK,
  // or the first failure (the marks then lapse within the ttl).
  Status MarkOffline(const std::vector<DeviceRef>& devices, int64_t now_ms);
  // Queues the tasks; a failure is logged (presence signals are hints; readers of
  // GET /v1/presence see the online state itself).
  void QueuePresenceChanges(const std::vector<PresenceChange>& changes);
  // Writes this broker's count of connected devices to Redis (from OnTick, every
  // kDeviceReportEveryMs; common/device_reports.h). A failure is logged once until it recovers.
  void ReportDevices(int64_t now_steady_ms);

  PluginOptions options_;
  AccessPolicy policy_;          // replaced on reload, when the secret files are read again
  BrokerAssignment assignment_;  // replaced on reload, when the brokers file is read again
  BoundedRedisConnection redis_;
  RedisPresenceStore presence_;
  RedisRoomMembership rooms_;
  ClientRegistry clients_;
  int64_t refresh_interval_ms_;
  int64_t next_refresh_steady_ms_ = 0;
  int64_t next_expiry_check_steady_ms_ = 0;
  // This broker's field in keys::BrokerDevices(): its broker_id, or "<host>/<pid>" when there is
  // no broker list.
  std::string report_field_;
  int64_t next_device_report_steady_ms_ = 0;
  bool device_report_failing_ = false;
  static constexpr int64_t kExpiryCheckIntervalMs = 1000;

  // How long a kicked device keeps its connection, for its session.kicked notice to go out.
  static constexpr int64_t kKickGraceMs = 250;
  struct PendingKick {
    ControlCommand command;
    std::string by;  // the sender's client id, for the log
    int64_t due_steady_ms = 0;
  };
  std::vector<PendingKick> pending_kicks_;  // in the order they are due
};

}  // namespace courier::broker
