#include "downlink/broker_plugin/broker_auth_plugin.h"

#include <mosquitto.h>  // MOSQ_ERR_*, MOSQ_LOG_*
#pragma GCC visibility push(default)
#include <mosquitto_plugin.h>  // MOSQ_ACL_*
#include <unistd.h>            // gethostname, getpid
#pragma GCC visibility pop

#include <algorithm>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/config.h"
#include "common/device_reports.h"
#include "common/jwt.h"
#include "downlink/broker_plugin/control_command.h"
#include "downlink/broker_plugin/log_text.h"

namespace courier::broker {

namespace {

// A lost DISCONNECT (a broker crash) heals within the ttl: live devices are re-marked online
// every ttl/3, but at least every 30 s.
constexpr int64_t kMaxRefreshIntervalMs = 30'000;

int64_t WallClockMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

int64_t SteadyClockMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

std::string_view OrEmpty(const char* text) { return text == nullptr ? std::string_view() : text; }

// A network-supplied C string for a log line; "-" when absent.
std::string Printable(const char* text) {
  return text == nullptr ? std::string("-") : PrintableForLog(text);
}

std::string ClientIdOf(const mosquitto* client) {
  return client == nullptr ? std::string("-") : Printable(mosquitto_client_id(client));
}

std::string AddressOf(const mosquitto* client) {
  return client == nullptr ? std::string("-") : Printable(mosquitto_client_address(client));
}

}  // namespace

Result<AccessPolicy> BrokerAuthPlugin::LoadPolicy(const PluginOptions& options) {
  std::vector<std::string> secrets;
  Result<std::string> current = ReadSecretFile(options.jwt_secret_file);
  if (!current.ok()) return current.status();
  secrets.push_back(std::move(*current));
  if (!options.jwt_previous_secret_file.empty()) {
    Result<std::string> previous = ReadSecretFile(options.jwt_previous_secret_file);
    if (!previous.ok()) return previous.status();
    secrets.push_back(std::move(*previous));
  }
  return AccessPolicy(PolicyConfig{options.topic_root, options.service_user},
                      JwtCodec(std::move(secrets)));
}

BrokerAuthPlugin::BrokerAuthPlugin(PluginOptions options, AccessPolicy policy,
                                   BrokerAssignment assignment)
    : options_(std::move(options)),
      policy_(std::move(policy)),
      assignment_(std::move(assignment)),
      redis_({options_.redis_host, options_.redis_port, options_.redis_timeout_ms,
              options_.redis_cluster}),
      presence_(&redis_, {int64_t{options_.presence_ttl_s} * 1000, options_.shards}),
      rooms_(&redis_),
      refresh_interval_ms_(
          std::min(kMaxRefreshIntervalMs, int64_t{options_.presence_ttl_s} * 1000 / 3)) {
  report_field_ = options_.broker_id;
  if (report_field_.empty()) {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "broker");
    report_field_ = std::string(host) + "/" + std::to_string(getpid());
  }
}

void BrokerAuthPlugin::ProbeRedis() {
  // Redis is reached lazily, so a broker may start before Redis; say so early if it is down.
  if (Status s = redis_.Connect(); !s.ok()) {
    mosquitto_log_printf(MOSQ_LOG_WARNING,
                         "courier: %s; devices are refused until it answers (services are not)",
                         s.message().c_str());
  }
}

void BrokerAuthPlugin::OnShutdown() {
  if (Status s = presence_.ForgetDevices(report_field_); !s.ok()) {
    mosquitto_log_printf(MOSQ_LOG_WARNING,
                         "courier: shutdown: this broker's device count stays in Redis until it "
                         "expires: %s",
                         s.message().c_str());
  }
  std::vector<DeviceRef> devices = clients_.OnlineDevices();
  if (devices.empty()) return;
  Status s = MarkOffline(devices, WallClockMs());
  mosquitto_log_printf(s.ok() ? MOSQ_LOG_INFO : MOSQ_LOG_WARNING,
                       "courier: shutdown marked %zu devices offline%s%s", devices.size(),
                       s.ok() ? "" : ": ", s.message().c_str());
}

Status BrokerAuthPlugin::MarkOffline(const std::vector<DeviceRef>& devices, int64_t now_ms) {
  Result<std::vector<std::string>> went_offline = presence_.MarkOffline(devices, now_ms);
  if (!went_offline.ok()) return went_offline.status();
  std::vector<PresenceChange> changes;
  changes.reserve(went_offline->size());
  for (std::string& user_id : *went_offline) {
    changes.push_back({std::move(user_id), /*online=*/false, now_ms});
  }
  QueuePresenceChanges(changes);
  return Status::Ok();
}

void BrokerAuthPlugin::QueuePresenceChanges(const std::vector<PresenceChange>& changes) {
  if (changes.empty()) return;
  if (Status s = presence_.QueuePresenceChanges(changes); !s.ok()) {
    mosquitto_log_printf(MOSQ_LOG_WARNING,
                         "courier: %zu presence task(s) not queued (first user=%s %s): %s",
                         changes.size(), changes.front().user_id.c_str(),
                         changes.front().online ? "online" : "offline", s.message().c_str());
    return;
  }
  for (const PresenceChange& change : changes) {
    mosquitto_log_printf(MOSQ_LOG_INFO, "courier: presence user=%s %s: task queued",
                         change.user_id.c_str(), change.online ? "online" : "offline");
  }
}

int BrokerAuthPlugin::OnBasicAuth(const mosquitto_evt_basic_auth& event) {
  // A new connection in the memory of a connection whose disconnect was never reported starts
  // from nothing. Mosquitto also authenticates every connected client again when it reloads
  // (SIGHUP): such a connection, with the same credentials, keeps the rooms it may read, and is
  // not refused for a user the reload moved to another broker (ReloadBrokerAssignment has told
  // it and disconnects it after the kick grace, so that the notice goes out first).
  std::optional<ClientRegistry::Connection> previous;
  if (const ClientRegistry::Connection* known = clients_.FindConnection(event.client)) {
    previous = *known;
  }
  clients_.Remove(event.client);
  const char* client_id = event.client == nullptr ? nullptr : mosquitto_client_id(event.client);
  int64_t now_ms = WallClockMs();

  Result<ClientIdentity> who = policy_.Authenticate(OrEmpty(client_id), OrEmpty(event.username),
                                                    OrEmpty(event.password), now_ms / 1000);
  if (!who.ok()) {
    mosquitto_log_printf(MOSQ_LOG_NOTICE,
                         "courier: connect denied client=%s username=%s address=%s reason=%s",
                         Printable(client_id).c_str(), Printable(event.username).c_str(),
                         AddressOf(event.client).c_str(), who.status().message().c_str());
    return MOSQ_ERR_AUTH;
  }
  if (who->is_service()) {
    mosquitto_log_printf(MOSQ_LOG_INFO, "courier: connect allowed client=%s service=%s",
                         Printable(client_id).c_str(), who->user_id.c_str());
    clients_.Add(event.client, std::move(*who));
    return MOSQ_ERR_SUCCESS;
  }

  const bool again = previous.has_value() && previous->identity == *who;
  if (const BrokerEntry* home = assignment_.ElsewhereFor(who->user_id); home != nullptr && !again) {
    // The device asks the uplink where to go (GET /v1/mqtt) when it is refused.
    mosquitto_log_printf(MOSQ_LOG_NOTICE,
                         "courier: connect denied client=%s address=%s reason=user %s is assigned "
                         "to broker %s (public %s), not to this one",
                         Printable(client_id).c_str(), AddressOf(event.client).c_str(),
                         who->user_id.c_str(), home->internal.ToString().c_str(),
                         home->advertised.ToString().c_str());
    return MOSQ_ERR_AUTH;
  }
  if (Status s = AccessPolicy::CheckDeviceConnection(mosquitto_client_keepalive(event.client),
                                                     mosquitto_client_clean_session(event.client));
      !s.ok()) {
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "courier: connect denied client=%s address=%s reason=%s",
                         Printable(client_id).c_str(), AddressOf(event.client).c_str(),
                         s.message().c_str());
    return MOSQ_ERR_AUTH;
  }
  Result<RedisPresenceStore::SessionCheck> session =
      presence_.CheckSessionAndMarkOnline(who->user_id, who->session_id, who->device_id, now_ms);
  if (!session.ok()) {
    // Not MOSQ_ERR_AUTH: Mosquitto then closes the connection without a CONNACK, which clients
    // treat as a transient failure and retry, instead of "not authorized" for a good token.
    mosquitto_log_printf(MOSQ_LOG_ERR,
                         "courier: connect refused client=%s reason=redis unavailable (%s)",
                         Printable(client_id).c_str(), session.status().message().c_str());
    return MOSQ_ERR_UNKNOWN;
  }
  if (*session == RedisPresenceStore::SessionCheck::kEnded) {
    mosquitto_log_printf(
        MOSQ_LOG_NOTICE, "courier: connect denied client=%s address=%s reason=session %s ended",
        Printable(client_id).c_str(), AddressOf(event.client).c_str(), who->session_id.c_str());
    return MOSQ_ERR_AUTH;
  }
  mosquitto_log_printf(MOSQ_LOG_INFO, "courier: connect allowed client=%s session=%s online",
                       Printable(client_id).c_str(), who->session_id.c_str());
  std::string user_id = who->user_id;
  clients_.Add(event.client, std::move(*who));
  if (again) {
    for (const std::string& room : previous->readable_rooms) clients_.AllowRoom(event.client, room);
  }
  if (*session == RedisPresenceStore::SessionCheck::kCameOnline) {
    QueuePresenceChanges({{std::move(user_id), /*online=*/true, now_ms}});
  }
  return MOSQ_ERR_SUCCESS;
}

int BrokerAuthPlugin::OnAclCheck(const mosquitto_evt_acl_check& event) {
  if (event.access == MOSQ_ACL_UNSUBSCRIBE) return MOSQ_ERR_SUCCESS;
  std::string_view topic = OrEmpty(event.topic);
  const ClientRegistry::Connection* connection = clients_.FindConnection(event.client);
  AclDecision decision = AclDecision::Deny("connection not authenticated by courier");
  const char* action = "access";
  if (connection != nullptr) {
    const ClientIdentity& who = connection->identity;
    switch (event.access) {
      case MOSQ_ACL_SUBSCRIBE:
        action = "subscribe";
        decision = policy_.CheckSubscribe(who, topic);
        if (decision.needs_room_membership()) {
          decision = CheckRoomSubscribe(event.client, who, decision.room_id);
        }
        break;
      case MOSQ_ACL_WRITE:
        action = "publish";
        decision = policy_.CheckPublish(who, topic);
        break;
      case MOSQ_ACL_READ:
        action = "read";
        // Asked for every message delivered to every subscriber: memory only, no Redis.
        decision = policy_.CheckRead(who, topic, connection->readable_rooms);
        break;
      default:
        decision = AclDecision::Deny("unknown access type");
        break;
    }
  }
  if (decision.allowed) return MOSQ_ERR_SUCCESS;
  // A room a user left keeps its subscriptions open: each message of the room is denied to
  // them, which is expected, not news.
  int level = event.access == MOSQ_ACL_READ && !policy_.RoomOfTopic(topic).empty()
                  ? MOSQ_LOG_DEBUG
                  : MOSQ_LOG_NOTICE;
  mosquitto_log_printf(level, "courier: %s denied client=%s topic=%s reason=%.*s", action,
                       ClientIdOf(event.client).c_str(), Printable(event.topic).c_str(),
                       static_cast<int>(decision.reason.size()), decision.reason.data());
  return MOSQ_ERR_ACL_DENIED;
}

AclDecision BrokerAuthPlugin::CheckRoomSubscribe(const mosquitto* client, const ClientIdentity& who,
                                                 std::string_view room_id) {
  Result<bool> member = rooms_.IsMember(room_id, who.user_id);
  if (!member.ok()) {
    mosquitto_log_printf(MOSQ_LOG_WARNING, "courier: room membership of user=%s room=%.*s: %s",
                         who.user_id.c_str(), static_cast<int>(room_id.size()), room_id.data(),
                         member.status().message().c_str());
    return AclDecision::Deny("room membership unknown: redis unavailable");
  }
  if (!*member) return AclDecision::Deny("the user is not a member of the room");
  clients_.AllowRoom(client, room_id);
  mosquitto_log_printf(MOSQ_LOG_INFO, "courier: subscribe client=%s room=%.*s allowed (member)",
                       PrintableForLog(who.client_id).c_str(), static_cast<int>(room_id.size()),
                       room_id.data());
  return AclDecision::Allow();
}

int BrokerAuthPlugin::OnDisconnect(const mosquitto_evt_disconnect& event) {
  const ClientIdentity* known = clients_.Find(event.client);
  if (known == nullptr) return MOSQ_ERR_SUCCESS;  // never authenticated here
  std::string client_id = PrintableForLog(known->client_id);

  std::optional<ClientIdentity> gone = clients_.Remove(event.client);
  if (!gone) {
    mosquitto_log_printf(MOSQ_LOG_INFO,
                         "courier: disconnect client=%s superseded by a newer connection; "
                         "device stays online",
                         client_id.c_str());
    return MOSQ_ERR_SUCCESS;
  }
  if (gone->is_service()) {
    mosquitto_log_printf(MOSQ_LOG_INFO, "courier: disconnect client=%s service=%s",
                         client_id.c_str(), gone->user_id.c_str());
    return MOSQ_ERR_SUCCESS;
  }
  Status s = MarkOffline({{gone->user_id, gone->device_id}}, WallClockMs());
  if (!s.ok()) {
    mosquitto_log_printf(MOSQ_LOG_WARNING,
                         "courier: disconnect client=%s could not clear the online mark (%s); "
                         "it lapses within %d s",
                         client_id.c_str(), s.message().c_str(), options_.presence_ttl_s);
    return MOSQ_ERR_SUCCESS;
  }
  mosquitto_log_printf(MOSQ_LOG_INFO, "courier: disconnect client=%s offline", client_id.c_str());
  return MOSQ_ERR_SUCCESS;
}

int BrokerAuthPlugin::OnTick(const mosquitto_evt_tick& /*event*/) {
  // Mosquitto 2.0.11 passes a zeroed event (no now_s / now_ns) and ticks often: keep our own
  // schedule, on the steady clock so that a wall-clock jump can't stall it.
  int64_t now_steady_ms = SteadyClockMs();
  RunDueKicks(now_steady_ms);
  ReportDevices(now_steady_ms);
  if (now_steady_ms >= next_expiry_check_steady_ms_) {
    next_expiry_check_steady_ms_ = now_steady_ms + kExpiryCheckIntervalMs;
    DropExpired(WallClockMs());
  }
  if (now_steady_ms < next_refresh_steady_ms_) return MOSQ_ERR_SUCCESS;
  next_refresh_steady_ms_ = now_steady_ms + refresh_interval_ms_;

  std::vector<DeviceRef> devices = clients_.OnlineDevices();
  if (devices.empty()) return MOSQ_ERR_SUCCESS;
  Status s = presence_.RefreshOnline(devices, WallClockMs());
  if (!s.ok()) {
    mosquitto_log_printf(MOSQ_LOG_WARNING, "courier: presence refresh of %zu devices failed: %s",
                         devices.size(), s.message().c_str());
  } else {
    mosquitto_log_printf(MOSQ_LOG_DEBUG, "courier: presence refreshed for %zu devices",
                         devices.size());
  }
  return MOSQ_ERR_SUCCESS;
}

void BrokerAuthPlugin::ReportDevices(int64_t now_steady_ms) {
  if (now_steady_ms < next_device_report_steady_ms_) return;
  next_device_report_steady_ms_ = now_steady_ms + kDeviceReportEveryMs;
  const size_t devices = clients_.OnlineDeviceCount();
  Status s = presence_.ReportDevices(report_field_, devices, WallClockMs());
  if (!s.ok() && !device_report_failing_) {
    mosquitto_log_printf(MOSQ_LOG_WARNING, "courier: device count not reported (%zu): %s", devices,
                         s.message().c_str());
  } else if (s.ok() && device_report_failing_) {
    mosquitto_log_printf(MOSQ_LOG_INFO, "courier: device count reported again (%zu)", devices);
  }
  device_report_failing_ = !s.ok();
}

void BrokerAuthPlugin::DropExpired(int64_t now_wall_ms) {
  // Collected first: each kick runs the client's DISCONNECT event, which edits the registry.
  for (const std::string& client_id : clients_.ExpiredDevices(now_wall_ms / 1000)) {
    int rc = mosquitto_kick_client_by_clientid(client_id.c_str(), /*with_will=*/false);
    mosquitto_log_printf(rc == MOSQ_ERR_SUCCESS ? MOSQ_LOG_NOTICE : MOSQ_LOG_WARNING,
                         "courier: kicked client=%s reason=token expired%s", client_id.c_str(),
                         rc == MOSQ_ERR_SUCCESS ? "" : " (the kick failed)");
  }
}

int BrokerAuthPlugin::OnControl(const mosquitto_evt_control& event) {
  const ClientIdentity* who = clients_.Find(event.client);
  if (who == nullptr || !who->is_service()) {
    mosquitto_log_printf(MOSQ_LOG_WARNING,
                         "courier: control command ignored client=%s reason=only the service "
                         "account may send control commands",
                         ClientIdOf(event.client).c_str());
    return MOSQ_ERR_SUCCESS;
  }
  std::string_view payload;
  if (event.payload != nullptr) {
    payload = std::string_view(static_cast<const char*>(event.payload), event.payloadlen);
  }
  Result<ControlCommand> command = ParseControlCommand(payload);
  if (!command.ok()) {
    mosquitto_log_printf(MOSQ_LOG_WARNING, "courier: control command ignored client=%s reason=%s",
                         ClientIdOf(event.client).c_str(), command.status().ToString().c_str());
    return MOSQ_ERR_SUCCESS;
  }
  switch (command->op) {
    case ControlCommand::Op::kKick:
      Kick(*command, *who);
      break;
    case ControlCommand::Op::kRoomLeave:
      LeaveRoom(*command, *who);
      break;
  }
  return MOSQ_ERR_SUCCESS;
}

void BrokerAuthPlugin::Kick(const ControlCommand& command, const ClientIdentity& sender) {
  // Copied: the kick below may end the sender's connection too, and `sender` with it.
  const std::string by = PrintableForLog(sender.client_id);
  if (command.client_id == sender.client_id) {
    mosquitto_log_printf(MOSQ_LOG_WARNING,
                         "courier: control command ignored client=%s reason=kick of the sender",
                         by.c_str());
    return;
  }
  pending_kicks_.push_back({command, by, SteadyClockMs() + kKickGraceMs});
}

void BrokerAuthPlugin::RunDueKicks(int64_t now_steady_ms) {
  size_t due = 0;
  while (due < pending_kicks_.size() && pending_kicks_[due].due_steady_ms <= now_steady_ms) ++due;
  if (due == 0) return;
  std::vector<PendingKick> kicks(std::make_move_iterator(pending_kicks_.begin()),
                                 std::make_move_iterator(pending_kicks_.begin() + due));
  pending_kicks_.erase(pending_kicks_.begin(), pending_kicks_.begin() + due);
  for (const PendingKick& k : kicks) {
    const ControlCommand& command = k.command;
    const char* session = command.session_id.empty() ? "any" : command.session_id.c_str();
    // Decided now, not when the command came: the device may have reconnected meanwhile with
    // its new session, which must keep its connection.
    if (DecideKick(command, clients_.FindByClientId(command.client_id)) ==
        KickDecision::kOtherSession) {
      mosquitto_log_printf(MOSQ_LOG_INFO,
                           "courier: kick client=%s session=%s by=%s skipped: the device is "
                           "connected on another session",
                           command.client_id.c_str(), session, k.by.c_str());
      continue;
    }
    // The kicked client's DISCONNECT event runs inside this call (it marks the device offline).
    int rc = mosquitto_kick_client_by_clientid(command.client_id.c_str(), /*with_will=*/false);
    if (rc == MOSQ_ERR_SUCCESS) {
      mosquitto_log_printf(MOSQ_LOG_NOTICE, "courier: kicked client=%s session=%s by=%s",
                           command.client_id.c_str(), session, k.by.c_str());
    } else if (rc == MOSQ_ERR_NOT_FOUND) {
      mosquitto_log_printf(MOSQ_LOG_INFO,
                           "courier: kick client=%s session=%s by=%s: not connected here",
                           command.client_id.c_str(), session, k.by.c_str());
    } else {
      mosquitto_log_printf(MOSQ_LOG_WARNING,
                           "courier: kick client=%s session=%s by=%s failed (error %d)",
                           command.client_id.c_str(), session, k.by.c_str(), rc);
    }
  }
}

void BrokerAuthPlugin::LeaveRoom(const ControlCommand& command, const ClientIdentity& sender) {
  size_t revoked = clients_.RevokeRoom(command.user_id, command.room_id);
  mosquitto_log_printf(MOSQ_LOG_INFO,
                       "courier: room_leave user=%s room=%s by=%s: %zu connection(s) stop "
                       "receiving the room",
                       command.user_id.c_str(), command.room_id.c_str(),
                       PrintableForLog(sender.client_id).c_str(), revoked);
}

int BrokerAuthPlugin::OnReload(const mosquitto_evt_reload& /*event*/) {
  // Mosquitto 2.0 passes no options on reload (SIGHUP); re-read the secret files named at
  // start, which is how a secret rotation reaches a running broker.
  Result<AccessPolicy> policy = LoadPolicy(options_);
  if (!policy.ok()) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "courier: reload kept the previous JWT secrets: %s",
                         policy.status().message().c_str());
    return MOSQ_ERR_SUCCESS;
  }
  policy_ = std::move(*policy);
  mosquitto_log_printf(MOSQ_LOG_NOTICE, "courier: reload read the JWT secret files again");
  ReloadBrokerAssignment();
  return MOSQ_ERR_SUCCESS;
}

void BrokerAuthPlugin::ReloadBrokerAssignment() {
  if (options_.brokers_file.empty()) return;  // a list in the options cannot change
  Result<BrokerAssignment> fresh = LoadBrokerAssignment(options_);
  if (!fresh.ok()) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "courier: reload kept the previous broker list: %s",
                         fresh.status().message().c_str());
    return;
  }
  if (*fresh == assignment_) {
    mosquitto_log_printf(MOSQ_LOG_INFO, "courier: reload: the broker list is unchanged");
    return;
  }
  assignment_ = std::move(*fresh);
  mosquitto_log_printf(assignment_.lists_self() ? MOSQ_LOG_NOTICE : MOSQ_LOG_WARNING,
                       "courier: reload: now %s%s", assignment_.ToString().c_str(),
                       assignment_.lists_self() ? ""
                                                : " (this broker is not in it: every device "
                                                  "is sent elsewhere)");
  const int64_t now_ms = WallClockMs();
  size_t told = 0;
  for (const MovedDevice& moved : MovedDevices(assignment_, clients_.OnlineDevices())) {
    const std::string client_id = DeviceClientId(moved.device.user_id, moved.device.device_id);
    const ClientIdentity* current = clients_.FindByClientId(client_id);
    if (current == nullptr) continue;
    // Told first, on its device topic (which it is subscribed to); disconnected after the
    // kick grace, so that the notice is on the wire before the connection closes.
    const std::string topic =
        options_.topic_root + "/d/" + moved.device.user_id + "/" + moved.device.device_id;
    const std::string event = BrokerMovedEvent(moved.to, now_ms);
    void* payload = mosquitto_malloc(event.size());
    if (payload != nullptr) {
      std::memcpy(payload, event.data(), event.size());
      int rc = mosquitto_broker_publish(client_id.c_str(), topic.c_str(),
                                        static_cast<int>(event.size()), payload, 1, false, nullptr);
      if (rc != MOSQ_ERR_SUCCESS) {
        mosquitto_free(payload);
        mosquitto_log_printf(MOSQ_LOG_WARNING, "courier: broker.moved to client=%s failed (%d)",
                             client_id.c_str(), rc);
      }
    }
    ControlCommand kick;
    kick.op = ControlCommand::Op::kKick;
    kick.client_id = client_id;
    kick.session_id = current->session_id;
    pending_kicks_.push_back({kick, "broker list reload", SteadyClockMs() + kKickGraceMs});
    mosquitto_log_printf(MOSQ_LOG_NOTICE,
                         "courier: client=%s moves to broker %s (public %s): told, disconnecting",
                         client_id.c_str(), moved.to.internal.ToString().c_str(),
                         moved.to.advertised.ToString().c_str());
    ++told;
  }
  mosquitto_log_printf(MOSQ_LOG_NOTICE, "courier: reload: %zu connected device(s) moved", told);
}

}  // namespace courier::broker
