// courier-uplink: the HTTP REST service. Wiring only: configuration, Redis, services, routes,
// the HTTP server, and a clean stop on SIGINT/SIGTERM.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <thread>

#include "common/broker_list.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/error_counter.h"
#include "common/jwt.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/process_setup.h"
#include "common/redis_message_store.h"
#include "common/redis_rate_limiter.h"
#include "common/redis_social_store.h"
#include "uplink/auth_service.h"
#include "uplink/broker_probe.h"
#include "uplink/friend_service.h"
#include "uplink/group_service.h"
#include "uplink/http_server.h"
#include "uplink/id_generator.h"
#include "uplink/messaging_service.h"
#include "uplink/routes.h"

namespace {

// --web-root as given, or the build's page beside the binary (<build>/uplink/courier-uplink ->
// <build>/web); empty when there is no page to serve.
std::string ResolveWebRoot(const std::string& configured) {
  namespace fs = std::filesystem;
  if (configured == "off") return "";
  if (!configured.empty()) return configured;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  fs::path beside = exe.parent_path().parent_path() / "web";
  return fs::is_regular_file(beside / "index.html", ec) ? beside.string() : "";
}

}  // namespace

int main(int argc, char** argv) {
  using namespace courier;
  Config config;
  CLI::App app{"courier-uplink: Courier's HTTP API"};
  AddCommonFlags(app, &config);
  AddUplinkFlags(app, &config);
  std::vector<std::string> secrets = LoadConfigOrExit(app, argc, argv, &config, "uplink");
  sigset_t stop_signals = BlockStopSignals();  // one thread waits for them

  // The brokers devices are sent to; a rewritten --mqtt-brokers-file takes effect on SIGHUP.
  Result<BrokerList> initial_brokers = LoadBrokerList(config.mqtt);
  if (!initial_brokers.ok()) {
    spdlog::critical("configuration: {}", initial_brokers.status().message());
    return 2;
  }
  ReloadableBrokerList brokers(config.mqtt, std::move(*initial_brokers));
  MetricsRegistry metrics;
  Gauge& broker_count = metrics.GetGauge("courier_mqtt_brokers", "Brokers in the current list");
  broker_count.Set(static_cast<int64_t>(brokers.Current()->size()));
  ReloadOnSighup reload([&brokers, &broker_count] {
    Result<bool> changed = brokers.Reload();
    if (!changed.ok()) {
      spdlog::error("brokers: kept the previous list: {}", changed.status().message());
    } else if (*changed) {
      broker_count.Set(static_cast<int64_t>(brokers.Current()->size()));
      spdlog::info("brokers: now {}", brokers.Current()->ToString());
    }
  });

  // Every Redis connection made with config.redis counts its failures here.
  ErrorCounter redis_errors(
      &metrics, "courier_redis_errors_total", "Redis failures, by operation and status code",
      {"connect", "command", "script"}, {Status::Code::kUnavailable, Status::Code::kInternal});
  config.redis.errors = &redis_errors;

  SystemClock clock;
  RandomIdGenerator ids;
  JwtCodec jwt(std::move(secrets));
  // One connection per HTTP worker, so no request waits for a connection.
  RedisPool redis(config.redis, config.http_threads);
  StorePolicy policy;
  policy.cmid_window_s = config.limits.cmid_window_s;
  policy.inbox_max_entries = config.limits.inbox_max_entries;
  policy.inbox_retention_ms = config.limits.inbox_retention_s * 1000;
  policy.send_rate_per_s = config.limits.send_rate_per_s;
  policy.send_burst = config.limits.send_burst;
  policy.token_ttl_s = config.limits.token_ttl_s;
  policy.delivery_shards = config.delivery_shards;
  policy.messaging_policy = config.messaging_policy;
  policy.recall_window_ms = config.limits.recall_window_s * 1000;
  policy.room_history_max = config.limits.room_history_max;
  RedisMessageStore store(&redis, policy);
  const Limits& l = config.limits;
  RateLimits rate_limits;
  rate_limits.login_per_user = {l.login_rate_per_user, l.login_burst_per_user};
  rate_limits.login_per_address = {l.login_rate_per_address, l.login_burst_per_address};
  rate_limits.register_per_address = {l.register_rate_per_address, l.register_burst_per_address};
  RedisRateLimiter limiter(&redis, rate_limits);
  AuthService auth(&store, &limiter, &jwt, &clock, &ids, config.pbkdf2_iterations,
                   config.limits.token_ttl_s, config.mqtt.service_user);
  RedisSocialStore social(&redis, policy);
  MessagingService messaging(&store, &social, &clock, &ids, config.limits);
  GroupService groups(&social, &clock, &ids, config.limits);
  FriendService friends(&social, &clock, &ids);

  RouteDeps deps;
  deps.auth = &auth;
  deps.messaging = &messaging;
  deps.groups = &groups;
  deps.friends = &friends;
  deps.metrics = &metrics;
  deps.config = &config;
  deps.brokers = &brokers;
  // Ready with Redis and at least one broker: with several brokers, one that is down must not
  // take every uplink out of the load balancer (its devices wait for it either way).
  deps.readiness = [&store, &brokers]() -> Status {
    if (Status s = store.Ping(); !s.ok()) return s;
    Status broker;
    for (const BrokerEntry& b : brokers.Current()->entries()) {
      broker = ProbeTcp(b.internal.host, b.internal.port, 500);
      if (broker.ok()) break;
    }
    return broker;
  };
  Router router(deps);

  HttpServerOptions http;
  http.host = config.http_host;
  http.port = config.http_port;
  http.threads = config.http_threads;
  http.web_root = ResolveWebRoot(config.web_root);
  if (!http.web_root.empty() &&
      !std::filesystem::is_regular_file(std::filesystem::path(http.web_root) / "index.html")) {
    spdlog::warn("web root {} has no index.html: /web/ answers 404", http.web_root);
  }
  HttpServer server(http, &router, &metrics);
  if (Status s = server.Bind(); !s.ok()) {
    spdlog::critical("{}", s.message());
    return 1;
  }
  std::thread stopper([&server, &stop_signals] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    spdlog::info("signal {}: stopping", sig);
    server.Stop();
  });
  spdlog::info("listening on http://{}:{} (redis {}, brokers {}, {} threads)", config.http_host,
               server.port(), DescribeRedis(config.redis), brokers.Current()->ToString(),
               config.http_threads);
  if (!http.web_root.empty()) {
    spdlog::info("web chat page: http://{}:{}/web/ (files in {})", config.http_host, server.port(),
                 http.web_root);
  }
  server.Run();
  // Run() also returns if the server fails; wake the signal thread either way.
  kill(getpid(), SIGTERM);
  stopper.join();
  spdlog::info("stopped");
  return 0;
}
