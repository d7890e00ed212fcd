// Choosing a Redis Cluster by configuration: the servers' --redis-cluster flag (also
// COURIER_REDIS_CLUSTER and the INI key redis-cluster) and the broker plugin's
// plugin_opt_redis_cluster.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "common/config.h"
#include "downlink/broker_plugin/plugin_options.h"

namespace courier {

namespace {

Status Parse(std::vector<std::string> args, Config* c) {
  CLI::App app;
  AddCommonFlags(app, c);
  std::vector<const char*> argv = {"courier-downlink"};
  for (const auto& a : args) argv.push_back(a.c_str());
  app.parse(static_cast<int>(argv.size()), argv.data());
  return FinishConfig(c);
}

}  // namespace

TEST_CASE("config: --redis-cluster selects cluster mode; a bad seed list is refused clearly") {
  Config single;
  REQUIRE(Parse({"--redis-host", "10.0.0.9", "--redis-port", "6380"}, &single).ok());
  CHECK(single.redis.cluster.empty());
  CHECK(single.redis.host == "10.0.0.9");

  Config cluster;
  REQUIRE(Parse({"--redis-cluster", "127.0.0.1:7000, 127.0.0.1:7001"}, &cluster).ok());
  CHECK(cluster.redis.cluster == "127.0.0.1:7000, 127.0.0.1:7001");

  {
    setenv("COURIER_REDIS_CLUSTER", "10.0.0.1:7000", 1);
    Config from_env;
    Status s = Parse({}, &from_env);
    unsetenv("COURIER_REDIS_CLUSTER");
    REQUIRE(s.ok());
    CHECK(from_env.redis.cluster == "10.0.0.1:7000");
  }

  for (const char* bad : {"127.0.0.1", "127.0.0.1:0", "a:1,,b:2", "a:1,a:1", " , "}) {
    CAPTURE(bad);
    Config c;
    Status s = Parse({"--redis-cluster", bad}, &c);
    REQUIRE(!s.ok());
    CHECK(s.code() == Status::Code::kInvalidField);
    CHECK(s.message().rfind("redis-cluster: ", 0) == 0);
  }
}

TEST_CASE("config: --redis-replica-acks and its timeout; out of range is refused clearly") {
  Config defaults;
  REQUIRE(Parse({}, &defaults).ok());
  CHECK(defaults.redis.replica_acks == 0);
  CHECK(defaults.redis.replica_ack_timeout_ms == 100);

  Config acks;
  REQUIRE(Parse({"--redis-cluster", "127.0.0.1:7000", "--redis-replica-acks", "1",
                 "--redis-replica-ack-timeout-ms", "50"},
                &acks)
              .ok());
  CHECK(acks.redis.replica_acks == 1);
  CHECK(acks.redis.replica_ack_timeout_ms == 50);

  const std::vector<std::vector<std::string>> bad = {
      {"--redis-replica-acks", "-1"},
      {"--redis-replica-acks", "17"},
      {"--redis-replica-ack-timeout-ms", "0"},
      {"--redis-replica-ack-timeout-ms", "2000"},  // not below the command timeout (2000)
  };
  for (const auto& args : bad) {
    CAPTURE(args[0] + " " + args[1]);
    Config c;
    Status s = Parse(args, &c);
    REQUIRE(!s.ok());
    CHECK(s.code() == Status::Code::kInvalidField);
    CHECK(s.message().rfind(args[0].substr(2), 0) == 0);
  }
}

TEST_CASE("plugin options: plugin_opt_redis_cluster") {
  broker::OptionList base = {{"jwt_secret_file", "/etc/courier/jwt"}};
  auto defaults = broker::ParsePluginOptions(base);
  REQUIRE(defaults.ok());
  CHECK(defaults->redis_cluster.empty());

  broker::OptionList with = base;
  with.emplace_back("redis_cluster", "127.0.0.1:7000,[::1]:7001");
  auto cluster = broker::ParsePluginOptions(with);
  REQUIRE_MESSAGE(cluster.ok(), cluster.status().ToString());
  REQUIRE(cluster->redis_cluster.size() == 2);
  CHECK(cluster->redis_cluster[0] == RedisNodeAddress{"127.0.0.1", 7000});
  CHECK(cluster->redis_cluster[1] == RedisNodeAddress{"::1", 7001});

  for (const char* bad : {"", "127.0.0.1", "h:99999", "h:1,"}) {
    CAPTURE(bad);
    broker::OptionList o = base;
    o.emplace_back("redis_cluster", bad);
    auto r = broker::ParsePluginOptions(o);
    REQUIRE(!r.ok());
    CHECK(r.status().code() == Status::Code::kInvalidField);
    CHECK(r.status().message().rfind("plugin_opt_redis_cluster: ", 0) == 0);
  }
}

}  // namespace courier
