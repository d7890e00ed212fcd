#include "common/config.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/broker_list.h"
#include "common/redis_cluster_routing.h"

namespace courier {

namespace {

constexpr size_t kMaxSecretBytes = 64 * 1024;

// A flag that is also COURIER_<NAME> in the environment and <name> in the INI file.
template <typename T>
CLI::Option* Flag(CLI::App& app, const std::string& name, T* value, const std::string& help) {
  std::string env = "COURIER_";
  for (char c : name) env += c == '-' ? '_' : static_cast<char>(std::toupper(c));
  // A flag given twice takes the last value, so wrappers can append overrides.
  return app.add_option("--" + name, *value, help)
      ->envname(env)
      ->capture_default_str()
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
}

}  // namespace

void AddCommonFlags(CLI::App& app, Config* c) {
  app.set_config("--config", "", "INI file with settings (keys are the flag names)");
  Flag(app, "log-level", &c->log_level, "trace, debug, info, warn or error");
  Flag(app, "log-format", &c->log_format, "text, or json (one JSON object per line)");
  Flag(app, "redis-host", &c->redis.host, "Redis host");
  Flag(app, "redis-port", &c->redis.port, "Redis port");
  Flag(app, "redis-cluster", &c->redis.cluster,
       "Redis Cluster seed nodes host:port[,host:port...]; set: cluster mode, and --redis-host "
       "and --redis-port are ignored");
  Flag(app, "redis-connect-timeout-ms", &c->redis.connect_timeout_ms, "Redis connect timeout");
  Flag(app, "redis-command-timeout-ms", &c->redis.command_timeout_ms, "Redis command timeout");
  Flag(app, "redis-replica-acks", &c->redis.replica_acks,
       "Redis Cluster: each write waits (WAIT) until this many replicas have it; 0: no wait");
  Flag(app, "redis-replica-ack-timeout-ms", &c->redis.replica_ack_timeout_ms,
       "Redis Cluster: the longest such a wait lasts (then a warning, and the write stands)");
  Flag(app, "mqtt-host", &c->mqtt.host, "MQTT broker host, as the servers reach it");
  Flag(app, "mqtt-port", &c->mqtt.port, "MQTT broker port");
  Flag(app, "mqtt-brokers", &c->mqtt.brokers,
       "several brokers, host:port,... (users assigned by hash); default --mqtt-host:--mqtt-port");
  Flag(app, "mqtt-brokers-file", &c->mqtt.brokers_file,
       "file listing the brokers, one '<internal> [<public>]' a line; re-read on SIGHUP");
  Flag(app, "topic-root", &c->mqtt.topic_root, "first level of every MQTT topic");
  Flag(app, "service-user", &c->mqtt.service_user, "the downlink's broker account");
  Flag(app, "jwt-secret-file", &c->jwt_secret_file,
       "file holding the HS256 secret (or set COURIER_JWT_SECRET)");
  Flag(app, "jwt-previous-secret-file", &c->jwt_previous_secret_file,
       "file holding the previous secret, still accepted during a rotation");
  Flag(app, "delivery-shards", &c->delivery_shards,
       "number of delivery streams; every uplink and downlink must agree");
}

void AddUplinkFlags(CLI::App& app, Config* c) {
  Flag(app, "http-host", &c->http_host, "HTTP listen address");
  Flag(app, "http-port", &c->http_port, "HTTP listen port");
  Flag(app, "http-threads", &c->http_threads,
       "HTTP worker threads (each serves one keep-alive connection at a time)");
  Flag(app, "mqtt-public-host", &c->mqtt.public_host,
       "broker host advertised to devices at login (default: --mqtt-host)");
  Flag(app, "mqtt-public-port", &c->mqtt.public_port,
       "broker port advertised to devices at login (default: --mqtt-port)");
  Flag(app, "mqtt-public-brokers", &c->mqtt.public_brokers,
       "the --mqtt-brokers as devices reach them, same order (default: the same addresses)");
  Flag(app, "mqtt-ws-url", &c->mqtt.ws_url,
       "MQTT over WebSocket as browsers reach it (e.g. ws://127.0.0.1:8083), advertised at login "
       "as mqtt.ws_url; default: none");
  Flag(app, "web-root", &c->web_root,
       "directory of the web chat page served under /web/ (default: <binary dir>/../web if it "
       "has index.html; 'off': none)");
  Flag(app, "pbkdf2-iterations", &c->pbkdf2_iterations, "PBKDF2-HMAC-SHA256 rounds for passwords");
  Flag(app, "messaging-policy", &c->messaging_policy, "open, or friends");
  Flag(app, "max-body-bytes", &c->limits.max_body_bytes, "largest message body, serialized");
  Flag(app, "sync-default-limit", &c->limits.sync_default_limit, "sync page size by default");
  Flag(app, "sync-max-limit", &c->limits.sync_max_limit, "largest sync page");
  Flag(app, "cmid-window-s", &c->limits.cmid_window_s, "how long a cmid is remembered");
  Flag(app, "inbox-max-entries", &c->limits.inbox_max_entries, "inbox entries kept per user");
  Flag(app, "inbox-retention-s", &c->limits.inbox_retention_s, "inbox entries kept this long");
  Flag(app, "token-ttl-s", &c->limits.token_ttl_s, "token lifetime");
  Flag(app, "send-rate", &c->limits.send_rate_per_s, "sends per second per user");
  Flag(app, "send-burst", &c->limits.send_burst, "send burst per user");
  Flag(app, "login-rate-per-user", &c->limits.login_rate_per_user,
       "failed logins per second per user id (refill of its bucket)");
  Flag(app, "login-burst-per-user", &c->limits.login_burst_per_user,
       "failed logins in a row per user id before 429");
  Flag(app, "login-rate-per-address", &c->limits.login_rate_per_address,
       "failed logins per second per client address (IPv6: per /64)");
  Flag(app, "login-burst-per-address", &c->limits.login_burst_per_address,
       "failed logins in a row per client address before 429");
  Flag(app, "register-rate-per-address", &c->limits.register_rate_per_address,
       "registrations per second per client address");
  Flag(app, "register-burst-per-address", &c->limits.register_burst_per_address,
       "registrations in a row per client address before 429");
  Flag(app, "group-max-members", &c->limits.group_max_members, "members a group may have");
  Flag(app, "recall-window-s", &c->limits.recall_window_s, "how long a sender may recall");
  Flag(app, "room-history-max", &c->limits.room_history_max, "room messages kept as history");
}

void AddDownlinkFlags(CLI::App& app, Config* c) {
  // The downlink writes group messages into inboxes, with the uplink's retention.
  Flag(app, "inbox-max-entries", &c->limits.inbox_max_entries, "inbox entries kept per user");
  Flag(app, "inbox-retention-s", &c->limits.inbox_retention_s, "inbox entries kept this long");
  Flag(app, "metrics-host", &c->metrics_host,
       "listen address of /metrics and /healthz (0.0.0.0: every interface)");
  Flag(app, "metrics-port", &c->metrics_port, "port of /metrics and /healthz (0: none)");
  Flag(app, "claim-idle-ms", &c->claim_idle_ms,
       "take over deliveries another downlink left unacknowledged this long");
  Flag(app, "shard-lease-ms", &c->shard_lease_ms,
       "a downlink's lease on a delivery or fan-out shard lasts this long unless renewed: how "
       "soon the shards of a dead downlink move to the others");
  Flag(app, "consumer-name", &c->consumer_name,
       "consumer name in the delivery group, stable across restarts; distinct per downlink "
       "(default <hostname>)");
}

std::string DescribeRedis(const RedisConfig& redis) {
  if (redis.cluster.empty()) return redis.host + ":" + std::to_string(redis.port);
  std::string out = "cluster " + redis.cluster;
  if (redis.replica_acks > 0) out += ", replica acks " + std::to_string(redis.replica_acks);
  return out;
}

Status FinishConfig(Config* c) {
  if (c->mqtt.public_host.empty()) c->mqtt.public_host = c->mqtt.host;
  if (c->mqtt.public_port == 0) c->mqtt.public_port = c->mqtt.port;
  if (c->consumer_name.empty()) {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    c->consumer_name = host;
  }
  if (c->log_format != "text" && c->log_format != "json") {
    return Status::InvalidField("log-format must be text or json");
  }
  auto port_ok = [](int p) { return p >= 0 && p < 65536; };
  if (!port_ok(c->http_port) || !port_ok(c->redis.port) || !port_ok(c->mqtt.port) ||
      !port_ok(c->mqtt.public_port) || !port_ok(c->metrics_port)) {
    return Status::InvalidField("a port is out of range");
  }
  if (!c->redis.cluster.empty()) {
    if (auto seeds = ParseRedisSeedList(c->redis.cluster); !seeds.ok()) {
      return Status::InvalidField("redis-cluster: " + seeds.status().message());
    }
  }
  if (c->redis.replica_acks < 0 || c->redis.replica_acks > 16) {
    return Status::InvalidField("redis-replica-acks must be 0..16");
  }
  if (c->redis.replica_ack_timeout_ms < 1 ||
      c->redis.replica_ack_timeout_ms >= c->redis.command_timeout_ms) {
    return Status::InvalidField(
        "redis-replica-ack-timeout-ms must be at least 1 and below redis-command-timeout-ms");
  }
  if (auto brokers = LoadBrokerList(c->mqtt); !brokers.ok()) return brokers.status();
  if (c->claim_idle_ms < 1000) return Status::InvalidField("claim-idle-ms must be at least 1000");
  if (c->shard_lease_ms < 1000 || c->shard_lease_ms > 600000) {
    return Status::InvalidField("shard-lease-ms must be 1000..600000");
  }
  if (c->http_threads < 1) return Status::InvalidField("http-threads must be at least 1");
  if (c->delivery_shards < 1 || c->delivery_shards > 1024) {
    return Status::InvalidField("delivery-shards must be 1..1024");
  }
  if (c->messaging_policy != "open" && c->messaging_policy != "friends") {
    return Status::InvalidField("messaging-policy must be open or friends");
  }
  if (c->mqtt.topic_root.empty() || c->mqtt.topic_root.find_first_of("+#") != std::string::npos) {
    return Status::InvalidField("topic-root must be a non-empty topic without wildcards");
  }
  Limits& l = c->limits;
  if (l.sync_default_limit < 1 || l.sync_max_limit < 1) {
    return Status::InvalidField("sync limits must be at least 1");
  }
  // A maximum set below the default page lowers the default with it.
  l.sync_default_limit = std::min(l.sync_default_limit, l.sync_max_limit);
  if (l.send_rate_per_s <= 0 || l.send_burst < 1 || l.token_ttl_s < 60 || l.inbox_max_entries < 1 ||
      l.cmid_window_s < 1 || l.group_max_members < 2 || l.recall_window_s < 0 ||
      l.room_history_max < 1) {
    return Status::InvalidField("a limit is out of range");
  }
  // A rate is a float, and NaN fails every comparison: hence `!(rate >= ...)`. The lower bound
  // keeps a bucket's lifetime in ms (burst / rate) an integer Lua prints exactly.
  for (double rate :
       {l.login_rate_per_user, l.login_rate_per_address, l.register_rate_per_address}) {
    if (!(rate >= 0.0001) || rate > 1e6) {
      return Status::InvalidField("login and register rates must be 0.0001..1000000 per second");
    }
  }
  for (int burst :
       {l.login_burst_per_user, l.login_burst_per_address, l.register_burst_per_address}) {
    if (burst < 1 || burst > 1000000) {
      return Status::InvalidField("login and register bursts must be 1..1000000");
    }
  }
  if (c->pbkdf2_iterations < 1000) return Status::InvalidField("pbkdf2-iterations must be >= 1000");
  return Status::Ok();
}

Result<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidField("cannot read the JWT secret file " + path);
  std::string secret;
  secret.resize(kMaxSecretBytes + 1);
  in.read(secret.data(), static_cast<std::streamsize>(secret.size()));
  if (in.bad()) return Status::InvalidField("cannot read the JWT secret file " + path);
  secret.resize(static_cast<size_t>(in.gcount()));
  if (secret.size() > kMaxSecretBytes) {
    return Status::InvalidField("the JWT secret file " + path + " is larger than 64 KiB");
  }
  while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back()))) {
    secret.pop_back();
  }
  if (secret.empty()) return Status::InvalidField("the JWT secret file " + path + " is empty");
  return secret;
}

Result<std::vector<std::string>> LoadJwtSecrets(const Config& c) {
  std::vector<std::string> secrets;
  if (const char* env = std::getenv("COURIER_JWT_SECRET"); env != nullptr && *env != '\0') {
    secrets.emplace_back(env);
  } else if (!c.jwt_secret_file.empty()) {
    auto s = ReadSecretFile(c.jwt_secret_file);
    if (!s.ok()) return s.status();
    secrets.push_back(std::move(*s));
  } else {
    return Status::InvalidField("no JWT secret: set --jwt-secret-file or COURIER_JWT_SECRET");
  }
  if (!c.jwt_previous_secret_file.empty()) {
    auto s = ReadSecretFile(c.jwt_previous_secret_file);
    if (!s.ok()) return s.status();
    secrets.push_back(std::move(*s));
  }
  return secrets;
}

}  // namespace courier
