// courier-downlink: the delivery workers (Redis Streams → MQTT) and the fan-out workers (group
// feeds → members' inboxes, signals, presence), one per shard this downlink owns (the shard
// coordinator balances the shards over the live downlinks), and the metrics endpoint.
// Wiring only.
#include <signal.h>

#include <httplib.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <thread>

#include "common/broker_list.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/error_counter.h"
#include "common/jwt.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/process_setup.h"
#include "downlink/broker_router.h"
#include "downlink/delivery_shard.h"
#include "downlink/fanout_worker.h"
#include "downlink/mqtt_publisher.h"
#include "downlink/online_devices.h"
#include "downlink/queue_backlog.h"
#include "downlink/redis_lease_store.h"
#include "downlink/shard_coordinator.h"

int main(int argc, char** argv) {
  using namespace courier;
  Config config;
  CLI::App app{"courier-downlink: pushes Courier's deliveries to the MQTT broker"};
  AddCommonFlags(app, &config);
  AddDownlinkFlags(app, &config);
  std::vector<std::string> secrets = LoadConfigOrExit(app, argc, argv, &config, "downlink");
  sigset_t stop_signals = BlockStopSignals();  // one thread waits for them

  SystemClock clock;
  JwtCodec jwt(std::move(secrets));
  MetricsRegistry metrics;
  // Every Redis connection made with config.redis (the shards' workers, the leases) counts its
  // failures here.
  ErrorCounter redis_errors(
      &metrics, "courier_redis_errors_total", "Redis failures, by operation and status code",
      {"connect", "command", "script"}, {Status::Code::kUnavailable, Status::Code::kInternal});
  config.redis.errors = &redis_errors;
  // One connection per broker of the list, for each delivery shard's worker; a rewritten
  // --mqtt-brokers-file takes effect on SIGHUP (docs/operations.md, "Several brokers").
  Result<BrokerList> initial_brokers = LoadBrokerList(config.mqtt);
  if (!initial_brokers.ok()) {
    spdlog::critical("configuration: {}", initial_brokers.status().message());
    return 2;
  }
  ReloadableBrokerList brokers(config.mqtt, std::move(*initial_brokers));
  ReloadOnSighup reload([&brokers] {
    Result<bool> changed = brokers.Reload();
    if (!changed.ok()) {
      spdlog::error("brokers: kept the previous list: {}", changed.status().message());
    } else if (*changed) {
      spdlog::info("brokers: the list changed; the delivery workers pick it up");
    }
  });
  // Each delivery shard's worker publishes on connections of its own (client ids per shard).
  PublisherFactory make_publisher =
      [&](const std::string& client_id) -> std::unique_ptr<Publisher> {
    return std::make_unique<BrokerRouter>(
        &brokers,
        [&config, &jwt, &clock,
         client_id](const BrokerAddress& broker) -> std::unique_ptr<BrokerLink> {
          MqttConfig one = config.mqtt;
          one.host = broker.host;
          one.port = broker.port;
          return std::make_unique<MqttPublisher>(one, client_id, &jwt, &clock);
        },
        &metrics, client_id);
  };
  // The backlog of the shards this downlink owns, sampled by their workers.
  QueueBacklog delivery_backlog(&metrics, "delivery");
  QueueBacklog fanout_backlog(&metrics, "fanout");
  DeliveryWorkerOptions options;
  options.topic_root = config.mqtt.topic_root;
  options.claim_idle_ms = config.claim_idle_ms;
  options.claim_every_ms = static_cast<int>(std::min<int64_t>(5000, config.claim_idle_ms / 2));
  ShardQueue deliveries{
      "delivery",
      "delivery",
      "delivering",
      config.delivery_shards,
      keys::DeliveryShardOwner,
      [&](int shard, const ShardLease* lease) {
        return std::make_unique<DeliveryShardWorker>(
            config.redis, shard, config.consumer_name,
            make_publisher(DeliveryShardWorker::ClientId(config.consumer_name, shard)), &metrics,
            options, lease, &delivery_backlog);
      }};

  FanoutWorkerOptions fanout_options;
  fanout_options.shards = config.delivery_shards;
  fanout_options.claim_idle_ms = config.claim_idle_ms;
  fanout_options.claim_every_ms = options.claim_every_ms;
  fanout_options.inbox_max_entries = config.limits.inbox_max_entries;
  fanout_options.inbox_retention_ms = config.limits.inbox_retention_s * 1000;
  ShardQueue fanouts{"fanout",
                     "fan-out",
                     "fanning out",
                     config.delivery_shards,
                     keys::FanoutShardOwner,
                     [&](int shard, const ShardLease* lease) {
                       return std::make_unique<FanoutWorker>(
                           config.redis, shard, config.consumer_name, &metrics, fanout_options,
                           lease, &fanout_backlog);
                     }};

  RedisLeaseStore leases(config.redis);
  ShardCoordinatorOptions coordinator_options;
  coordinator_options.name = config.consumer_name;
  coordinator_options.lease_ms = config.shard_lease_ms;
  coordinator_options.renew_every_ms = config.shard_lease_ms * 3 / 10;
  ShardCoordinator coordinator(&leases, &metrics, coordinator_options,
                               {std::move(deliveries), std::move(fanouts)});

  std::atomic<bool> stopping{false};
  httplib::Server metrics_server;
  metrics_server.set_socket_options([](socket_t fd) { SetListenSocketOptions(fd); });
  std::thread metrics_thread;
  if (config.metrics_port > 0) {
    metrics_server.Get("/metrics", [&metrics](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics.Render(), "text/plain; version=0.0.4");
    });
    metrics_server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"status":"ok"})", "application/json");
    });
    if (!metrics_server.bind_to_port(config.metrics_host, config.metrics_port)) {
      spdlog::critical("cannot bind metrics port {}:{}", config.metrics_host, config.metrics_port);
      return 1;
    }
    metrics_thread = std::thread([&metrics_server] { metrics_server.listen_after_bind(); });
  }
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    spdlog::info("signal {}: stopping", sig);
    stopping = true;
    metrics_server.stop();
  });

  spdlog::info(
      "sharing {} delivery and {} fan-out shard(s) as consumer {} (lease {} ms), redis {}, "
      "brokers {}",
      config.delivery_shards, config.delivery_shards, config.consumer_name, config.shard_lease_ms,
      DescribeRedis(config.redis), brokers.Current()->ToString());
  // The devices connected across the brokers, from the brokers' reports: for /metrics only.
  OnlineDevices online(config.redis, &metrics, &clock);
  std::thread online_thread([&online, &stopping] { online.Run(stopping); });
  // Returns once `stopping`, after every worker finished its step and the leases were released.
  coordinator.Run(stopping);
  if (!stopping) kill(getpid(), SIGTERM);
  stopper.join();
  online_thread.join();
  if (metrics_thread.joinable()) metrics_thread.join();
  spdlog::info("stopped");
  return 0;
}
