// The harness's proof of life: a whole stack comes up on free ports, answers its health checks,
// and the broker refuses what it must. If this fails, read its message before any other test's.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "tests/support/courier_api.h"
#include "tests/support/http_client.h"
#include "tests/support/mqtt_device.h"
#include "tests/support/test_stack.h"

namespace courier::testing {
namespace {

TEST_CASE("a test stack is healthy and ready, and its broker refuses a garbage password") {
  TestStack stack;
  HttpClient http(stack.http_port());

  HttpResponse healthz = http.Get("/healthz");
  CHECK_MESSAGE(healthz.status == 200, healthz.Describe());
  HttpResponse readyz = http.Get("/readyz");
  CHECK_MESSAGE(readyz.status == 200, readyz.Describe());

  MqttDevice device(stack.mqtt());
  CHECK_FALSE(device.Connect("mallory:laptop", "mallory", "not-a-token"));
  CHECK_FALSE(device.Connected());
  MESSAGE("refused as expected: " << device.last_error());
}

// cpp-httplib sets SO_REUSEPORT by default; with it a second process on the same port would share
// it silently, the kernel splitting the connections between the two (a test once got a 404 from
// another test's downlink metrics server that way). Courier's listeners leave it off.
TEST_CASE("a second uplink on a port in use fails to start and the first keeps every request") {
  TestStack stack;
  ChildSpec twin = stack.process(Component::kUplink).spec();
  twin.log_path = stack.data_dir() + "/logs/uplink-twin.log";
  ChildProcess second;
  REQUIRE(second.Start(twin).ok());
  for (int i = 0; i < 100 && second.Running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const bool ended = !second.Running();
  CHECK_MESSAGE(ended, "a second uplink is listening on the first one's port");
  if (!ended) second.Kill();
  MESSAGE("second uplink: " << second.ExitDescription() << "; its log: " << second.LogTail(3));
  // Every request reaches the real uplink (the API's 404 has a JSON error body).
  HttpClient http(stack.http_port());
  for (int i = 0; i < 20; ++i) {
    HttpResponse r = http.Get("/v1/no-such-path");
    REQUIRE_MESSAGE(r.status == 404, r.Describe());
    CHECK_MESSAGE(r.body.find("\"error\"") != std::string::npos, r.Describe());
  }
}

TEST_CASE("readiness follows Redis through a kill and a restart on the same port") {
  TestStackOptions options;
  options.start_downlink = false;
  TestStack stack(options);
  HttpClient http(stack.http_port());
  REQUIRE(http.Get("/readyz").status == 200);

  stack.KillRedis();
  CHECK_FALSE(stack.Running(Component::kRedis));
  HttpResponse down = http.Get("/readyz");
  CHECK_MESSAGE(down.status == 503, down.Describe());
  CHECK_MESSAGE(http.Get("/healthz").status == 200, "the uplink itself stays up");

  Status restarted = stack.StartRedis();
  REQUIRE_MESSAGE(restarted.ok(), restarted.ToString());
  // The uplink reconnects on its own; give it a moment (bounded).
  int status = 0;
  for (int i = 0; i < 50 && status != 200; ++i) {
    status = http.Get("/readyz").status;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK_MESSAGE(status == 200, stack.LogTail(Component::kUplink));
}

TEST_CASE("a logged-in device connects with its mqtt block and only gets its own inbox") {
  TestStack stack;
  HttpClient http(stack.http_port());
  Register(http, "alice");
  const Login alice = LogIn(http, "alice", "phone");
  const nlohmann::json& mqtt = alice.mqtt;
  CHECK(mqtt["port"] == stack.mqtt().PortFor("alice"));

  MqttDevice phone(stack.mqtt());
  REQUIRE_MESSAGE(phone.Connect(mqtt["client_id"], mqtt["username"], mqtt["password"]),
                  phone.last_error() << "\n"
                                     << stack.LogTail(Component::kBroker));
  CHECK(phone.Subscribe({mqtt["topics"]["inbox"].get<std::string>()}) == std::vector<int>{1});
  CHECK(phone.Subscribe({"courier/u/bob"}) == std::vector<int>{kSubscriptionRefused});
}

}  // namespace
}  // namespace courier::testing
