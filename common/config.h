// Configuration shared by the Courier processes: one struct whose every field has its default
// here, filled from (in rising priority) an INI file given by --config, COURIER_* environment
// variables, and command-line flags. The flag --http-port is the variable COURIER_HTTP_PORT and
// the INI key http-port.
//
// Thread-safety: filled once in main(), then read-only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace CLI {
class App;
}

namespace courier {

class ErrorCounter;

struct RedisConfig {
  std::string host = "127.0.0.1";
  int port = 6379;
  // Redis Cluster seed nodes, "host:port[,host:port...]"; default empty: one Redis at host:port.
  // Non-empty: cluster mode (host and port are ignored); the first seed that answers gives the
  // slot map. FinishConfig checks the list.
  std::string cluster;
  int connect_timeout_ms = 500;   // a dead Redis turns into 503 this fast
  int command_timeout_ms = 2000;  // longest a single command may take
  // Cluster mode: every batch of commands sent to a master ends with WAIT <replica_acks>
  // <replica_ack_timeout_ms>, so a reply comes back only once that many replicas have the writes
  // (or the timeout passed: then a warning is logged and the reply returned anyway). Narrows
  // the window in which a master's death loses acknowledged writes (docs/scaling.md, Limits).
  // 0: no WAIT. Ignored with one Redis.
  int replica_acks = 0;
  int replica_ack_timeout_ms = 100;
  // Not a setting: where the connections made with this configuration count their failures
  // (courier_redis_errors_total; common/redis_client.h says which). main() points it at the
  // process's counter; default nullptr: not counted. Must outlive every connection.
  ErrorCounter* errors = nullptr;
};

struct MqttConfig {
  std::string host = "127.0.0.1";  // where the processes reach the broker
  int port = 1883;
  std::string public_host;  // advertised to devices in the login answer; default host
  int public_port = 0;      // default port
  std::string topic_root = "courier";
  std::string service_user = "courier-service";  // the downlink's broker account
  // Several brokers, users assigned by hash (common/broker_list.h says which source wins):
  std::string brokers;         // "host:port,..." as the servers reach them; default host:port
  std::string public_brokers;  // the same brokers as devices reach them, same order (uplink)
  std::string brokers_file;    // lines "<internal> [<public>]"; re-read on SIGHUP; default none
  // MQTT over WebSocket as browsers reach the broker, e.g. "ws://127.0.0.1:8083" (a WebSocket
  // bridge to the broker's TCP port, or a broker's own WebSocket listener); added to the login
  // answer's mqtt block as `ws_url` when set and there is one broker. Default empty: not
  // advertised (uplink).
  std::string ws_url;
};

struct Limits {
  size_t max_body_bytes = 16 * 1024;  // `body` serialized compactly
  int sync_default_limit = 100;
  int sync_max_limit = 1000;
  int64_t cmid_window_s = 24 * 3600;
  int64_t inbox_max_entries = 10000;
  int64_t inbox_retention_s = 30 * 24 * 3600;
  int64_t token_ttl_s = 24 * 3600;
  double send_rate_per_s = 50;
  int send_burst = 100;
  // Login and registration limits (docs/design.md, "Login and registration limits"). A login
  // counts against its user's and its address's bucket only when the password is wrong. Rates
  // 0.0001..1000000 per second, bursts 1..1000000.
  double login_rate_per_user = 0.05;  // failed logins a second per user id: one every 20 s
  int login_burst_per_user = 10;
  double login_rate_per_address = 0.1;  // failed logins a second per client address
  int login_burst_per_address = 20;
  double register_rate_per_address = 0.02;  // registrations a second per address: 72 an hour
  int register_burst_per_address = 20;
  int presence_max_users = 100;  // users in one GET /v1/presence
  int group_max_members = 2000;
  int64_t recall_window_s = 120;
  int room_history_max = 100;  // room messages kept as history
};

struct Config {
  std::string config_file;
  std::string log_level = "info";
  // "text" (one line per event, common/log.h) or "json" (one JSON object per line, for a log
  // collector).
  std::string log_format = "text";

  // Uplink.
  std::string http_host = "127.0.0.1";
  int http_port = 8080;
  int http_threads = 16;  // one keep-alive connection is served per thread
  int pbkdf2_iterations = 100000;
  std::string messaging_policy = "open";  // "open" or "friends"
  // The web chat page's files, served under /web/. Default empty: <binary's dir>/../web when it
  // holds an index.html (the build puts the page there), else no page; "off": no page.
  std::string web_root;

  // Downlink.
  // The metrics listener (/metrics, /healthz). Loopback by default: the figures are for the
  // operator's scraper, not the Internet; 0.0.0.0 in a container, so that Prometheus reaches it.
  std::string metrics_host = "127.0.0.1";
  int metrics_port = 0;  // 0: no metrics listener
  // Name in the delivery consumer group; default <hostname>. Stable across restarts, so a
  // restarted downlink resumes its own unacknowledged deliveries at once. Two downlinks on one
  // host need distinct names.
  std::string consumer_name;
  int delivery_shards = 4;  // streams {dq:0..n-1}:deliveries; all processes must agree
  // A delivery another downlink left unacknowledged this long is taken over (that downlink is
  // presumed dead). Longer than any healthy publish takes. With shard leases this is only the
  // backstop for an owner that read entries after it had lost its lease (a paused process).
  int64_t claim_idle_ms = 30000;
  // Each delivery and fan-out shard is owned by one downlink through a lease in Redis that
  // expires this long after its last renewal (renewed every 3/10 of it): how long a dead
  // downlink's shards wait before another takes them. 1000..600000.
  int64_t shard_lease_ms = 5000;

  // Shared.
  std::string jwt_secret_file;           // or COURIER_JWT_SECRET; a previous secret in
  std::string jwt_previous_secret_file;  // ... this file still verifies during a rotation

  RedisConfig redis;
  MqttConfig mqtt;
  Limits limits;
};

// Flags shared by every process: --config, --log-level, Redis, MQTT and JWT settings.
void AddCommonFlags(CLI::App& app, Config* config);
// Flags of the uplink only.
void AddUplinkFlags(CLI::App& app, Config* config);
// Flags of the downlink only.
void AddDownlinkFlags(CLI::App& app, Config* config);

// Fills defaults that depend on other fields (public MQTT address, consumer name) and checks
// ranges. InvalidField naming the setting on a bad value.
Status FinishConfig(Config* config);

// Where the processes find Redis, for start-up logs: "host:port", or "cluster <seeds>" (with
// ", replica acks N" when set).
std::string DescribeRedis(const RedisConfig& redis);

// The content of a secret file with trailing whitespace removed. InvalidField when the file
// can't be read, is empty, or is over 64 KiB. The error never contains the secret.
Result<std::string> ReadSecretFile(const std::string& path);

// The JWT secrets, signing one first: COURIER_JWT_SECRET or the secret file, then the previous
// secret file if set. InvalidField when no secret is configured or a file can't be read.
Result<std::vector<std::string>> LoadJwtSecrets(const Config& config);

}  // namespace courier
