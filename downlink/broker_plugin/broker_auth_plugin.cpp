#include "downlink/broker_plugin/broker_auth_plugin.h"

#include <mosquitto.h>  // MOSQ_ERR_*, MOSQ_LOG_*
#pragma GCC visibility push(default)
#include <mosquitto_plugin.h>  // MOSQ_ACL_*
#pragma GCC visibility pop

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/config.h"
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

BrokerAuthPlugin::BrokerAuthPlugin(PluginOptions options, AccessPolicy policy)
    : options_(std::move(options)),
      policy_(std::move(policy)),
      presence_({options_.redis_host, options_.redis_port, options_.redis_timeout_ms,
                 int64_t{options_.presence_ttl_s} * 1000}),
      refresh_interval_ms_(
          std::min(kMaxRefreshIntervalMs, int64_t{options_.presence_ttl_s} * 1000 / 3)) {}

void BrokerAuthPlugin::ProbeRedis() {
  // Redis is reached lazily, so a broker may start before Redis; say so early if it is down.
  if (Status s = presence_.Connect(); !s.ok()) {
    mosquitto_log_printf(MOSQ_LOG_WARNING,
                         "courier: %s; devices are refused until it answers (services are not)",
                         s.message().c_str());
  }
}

void BrokerAuthPlugin::OnShutdown() {
  std::vector<DeviceRef> devices = clients_.OnlineDevices();
  if (devices.empty()) return;
  Status s = presence_.MarkOffline(devices, WallClockMs());
  mosquitto_log_printf(s.ok() ? MOSQ_LOG_INFO : MOSQ_LOG_WARNING,
                       "courier: shutdown marked %zu devices offline%s%s", devices.size(),
                       s.ok() ? "" : ": ", s.message().c_str());
}

int BrokerAuthPlugin::OnBasicAuth(const mosquitto_evt_basic_auth& event) {
  // A connection that authenticates again, or a new one in the memory of a connection whose
  // disconnect was never reported, starts from nothing.
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

  if (Status s = AccessPolicy::CheckDeviceConnection(mosquitto_client_keepalive(event.client),
                                                     mosquitto_client_clean_session(event.client));
      !s.ok()) {
    mosquitto_log_printf(MOSQ_LOG_NOTICE,
                         "courier: connect denied client=%s address=%s reason=%s",
                         Printable(client_id).c_str(), AddressOf(event.client).c_str(),
                         s.message().c_str());
    return MOSQ_ERR_AUTH;
  }
  Result<bool> session_live =
      presence_.CheckSessionAndMarkOnline(who->user_id, who->session_id, who->device_id, now_ms);
  if (!session_live.ok()) {
    // Not MOSQ_ERR_AUTH: Mosquitto then closes the connection without a CONNACK, which clients
    // treat as a transient failure and retry, instead of "not authorized" for a good token.
    mosquitto_log_printf(MOSQ_LOG_ERR,
                         "courier: connect refused client=%s reason=redis unavailable (%s)",
                         Printable(client_id).c_str(), session_live.status().message().c_str());
    return MOSQ_ERR_UNKNOWN;
  }
  if (!*session_live) {
    mosquitto_log_printf(
        MOSQ_LOG_NOTICE, "courier: connect denied client=%s address=%s reason=session %s ended",
        Printable(client_id).c_str(), AddressOf(event.client).c_str(), who->session_id.c_str());
    return MOSQ_ERR_AUTH;
  }
  mosquitto_log_printf(MOSQ_LOG_INFO, "courier: connect allowed client=%s session=%s online",
                       Printable(client_id).c_str(), who->session_id.c_str());
  clients_.Add(event.client, std::move(*who));
  return MOSQ_ERR_SUCCESS;
}

int BrokerAuthPlugin::OnAclCheck(const mosquitto_evt_acl_check& event) {
  if (event.access == MOSQ_ACL_UNSUBSCRIBE) return MOSQ_ERR_SUCCESS;
  std::string_view topic = OrEmpty(event.topic);
  const ClientIdentity* who = clients_.Find(event.client);
  AclDecision decision = AclDecision::Deny("connection not authenticated by courier");
  const char* action = "access";
  if (who != nullptr) {
    switch (event.access) {
      case MOSQ_ACL_SUBSCRIBE:
        action = "subscribe";
        decision = policy_.CheckSubscribe(*who, topic);
        break;
      case MOSQ_ACL_WRITE:
        action = "publish";
        decision = policy_.CheckPublish(*who, topic);
        break;
      case MOSQ_ACL_READ:
        action = "read";
        decision = policy_.CheckRead(*who, topic);
        break;
      default:
        decision = AclDecision::Deny("unknown access type");
        break;
    }
  }
  if (decision.allowed) return MOSQ_ERR_SUCCESS;
  mosquitto_log_printf(MOSQ_LOG_NOTICE, "courier: %s denied client=%s topic=%s reason=%.*s", action,
                       ClientIdOf(event.client).c_str(), Printable(event.topic).c_str(),
                       static_cast<int>(decision.reason.size()), decision.reason.data());
  return MOSQ_ERR_ACL_DENIED;
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
  Status s = presence_.MarkOffline({{gone->user_id, gone->device_id}}, WallClockMs());
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

int BrokerAuthPlugin::OnControl(const mosquitto_evt_control& event) {
  std::string sender = ClientIdOf(event.client);
  const ClientIdentity* who = clients_.Find(event.client);
  if (who == nullptr || !who->is_service()) {
    mosquitto_log_printf(MOSQ_LOG_WARNING,
                         "courier: control command ignored client=%s reason=only the service "
                         "account may send control commands",
                         sender.c_str());
    return MOSQ_ERR_SUCCESS;
  }
  std::string_view payload;
  if (event.payload != nullptr) {
    payload = std::string_view(static_cast<const char*>(event.payload), event.payloadlen);
  }
  Result<ControlCommand> command = ParseControlCommand(payload);
  if (!command.ok()) {
    mosquitto_log_printf(MOSQ_LOG_WARNING, "courier: control command ignored client=%s reason=%s",
                         sender.c_str(), command.status().ToString().c_str());
    return MOSQ_ERR_SUCCESS;
  }
  if (command->client_id == who->client_id) {
    mosquitto_log_printf(MOSQ_LOG_WARNING,
                         "courier: control command ignored client=%s reason=kick of the sender",
                         sender.c_str());
    return MOSQ_ERR_SUCCESS;
  }
  const char* session = command->session_id.empty() ? "any" : command->session_id.c_str();
  if (DecideKick(*command, clients_.FindByClientId(command->client_id)) ==
      KickDecision::kOtherSession) {
    mosquitto_log_printf(MOSQ_LOG_INFO,
                         "courier: kick client=%s session=%s by=%s skipped: the device is "
                         "connected on another session",
                         command->client_id.c_str(), session, sender.c_str());
    return MOSQ_ERR_SUCCESS;
  }
  // The kicked client's DISCONNECT event runs inside this call (it marks the device offline);
  // `who` may dangle afterwards.
  int rc = mosquitto_kick_client_by_clientid(command->client_id.c_str(), /*with_will=*/false);
  if (rc == MOSQ_ERR_SUCCESS) {
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "courier: kicked client=%s session=%s by=%s",
                         command->client_id.c_str(), session, sender.c_str());
  } else if (rc == MOSQ_ERR_NOT_FOUND) {
    mosquitto_log_printf(MOSQ_LOG_INFO,
                         "courier: kick client=%s session=%s by=%s: not connected here",
                         command->client_id.c_str(), session, sender.c_str());
  } else {
    mosquitto_log_printf(MOSQ_LOG_WARNING,
                         "courier: kick client=%s session=%s by=%s failed (error %d)",
                         command->client_id.c_str(), session, sender.c_str(), rc);
  }
  return MOSQ_ERR_SUCCESS;
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
  return MOSQ_ERR_SUCCESS;
}

}  // namespace courier::broker
