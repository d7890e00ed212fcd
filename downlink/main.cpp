// courier-downlink: the delivery worker (Redis Streams → MQTT), the fan-out worker (group
// feeds → members' inboxes, signals, presence) on a second thread, and the metrics endpoint.
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
#include "common/jwt.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/process_setup.h"
#include "downlink/broker_router.h"
#include "downlink/delivery_worker.h"
#include "downlink/fanout_worker.h"
#include "downlink/mqtt_publisher.h"
#include "downlink/redis_delivery_queue.h"

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
  RedisDeliveryQueue queue(config.redis, config.delivery_shards, config.consumer_name);
  // One connection per broker of the list; a rewritten --mqtt-brokers-file takes effect on
  // SIGHUP (docs/operations.md, "Several brokers").
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
      spdlog::info("brokers: the list changed; the delivery worker picks it up");
    }
  });
  BrokerRouter publisher(
      &brokers,
      [&config, &jwt, &clock](const BrokerAddress& broker) -> std::unique_ptr<BrokerLink> {
        MqttConfig one = config.mqtt;
        one.host = broker.host;
        one.port = broker.port;
        return std::make_unique<MqttPublisher>(one, "courier-downlink:" + config.consumer_name,
                                               &jwt, &clock);
      },
      &metrics);
  DeliveryWorkerOptions options;
  options.topic_root = config.mqtt.topic_root;
  options.claim_idle_ms = config.claim_idle_ms;
  options.claim_every_ms = static_cast<int>(std::min<int64_t>(5000, config.claim_idle_ms / 2));
  DeliveryWorker worker(&queue, &publisher, &metrics, options);

  FanoutWorkerOptions fanout_options;
  fanout_options.shards = config.delivery_shards;
  fanout_options.claim_idle_ms = config.claim_idle_ms;
  fanout_options.claim_every_ms = options.claim_every_ms;
  fanout_options.inbox_max_entries = config.limits.inbox_max_entries;
  fanout_options.inbox_retention_ms = config.limits.inbox_retention_s * 1000;
  FanoutWorker fanout(config.redis, config.consumer_name, &metrics, fanout_options);

  std::atomic<bool> stopping{false};
  httplib::Server metrics_server;
  std::thread metrics_thread;
  if (config.metrics_port > 0) {
    metrics_server.Get("/metrics", [&metrics](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics.Render(), "text/plain; version=0.0.4");
    });
    metrics_server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"status":"ok"})", "application/json");
    });
    if (!metrics_server.bind_to_port("127.0.0.1", config.metrics_port)) {
      spdlog::critical("cannot bind metrics port {}", config.metrics_port);
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

  spdlog::info("delivering {} shard(s) as consumer {} to brokers {}", config.delivery_shards,
               config.consumer_name, brokers.Current()->ToString());
  // Each worker runs in a loop, backing off on errors (Redis or broker down): 100 ms doubling
  // to 5 s, reset on success.
  // `name` says what paused ("delivery paused: …"), `resumed` what works again.
  auto run = [&stopping](const char* name, const char* resumed, auto step) {
    int backoff_ms = 100;
    std::string last_error;
    while (!stopping) {
      auto r = step();
      if (r.ok()) {
        if (!last_error.empty()) spdlog::info("{} again after: {}", resumed, last_error);
        last_error.clear();
        backoff_ms = 100;
        continue;
      }
      if (r.status().ToString() != last_error) {
        last_error = r.status().ToString();
        spdlog::warn("{} paused: {}", name, last_error);
      }
      for (int waited = 0; waited < backoff_ms && !stopping; waited += 50) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      backoff_ms = std::min(backoff_ms * 2, 5000);
    }
  };
  std::thread fanout_thread(
      [&] { run("fan-out", "fanning out", [&fanout] { return fanout.RunOnce(); }); });
  run("delivery", "delivering", [&worker] { return worker.RunOnce(); });
  fanout_thread.join();
  if (!stopping) kill(getpid(), SIGTERM);
  stopper.join();
  if (metrics_thread.joinable()) metrics_thread.join();
  spdlog::info("stopped");
  return 0;
}
