// The harness's proof of life: a whole stack comes up on free ports, answers its health checks,
// and the broker refuses what it must. If this fails, read its message before any other test's.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <thread>
#include <vector>

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

// Debian's cpp-httplib listens with a backlog of 5: in a burst of new connections the kernel drops
// SYNs beyond it and each dropped client waits a 1 s retransmit. The uplink listens again with a
// larger one. Frozen, it accepts nothing, so what the kernel completes on its own is the backlog.
TEST_CASE("the uplink's listen backlog holds a burst of 64 new connections") {
  TestStack stack;
  ChildProcess& uplink = stack.process(Component::kUplink);
  REQUIRE(uplink.Signal(SIGSTOP));
  constexpr int kBurst = 64;
  std::vector<int> fds;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(stack.http_port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < kBurst; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);  // EINPROGRESS or done
    fds.push_back(fd);
  }
  // Established means writable with no pending error; give the handshakes a moment.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  int established = 0;
  for (int fd : fds) {
    pollfd p{fd, POLLOUT, 0};
    int error = 0;
    socklen_t len = sizeof error;
    if (poll(&p, 1, 0) == 1 && (p.revents & POLLOUT) &&
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0 && error == 0) {
      ++established;
    }
  }
  for (int fd : fds) close(fd);
  REQUIRE(uplink.Signal(SIGCONT));
  CHECK_MESSAGE(established == kBurst, established << " of " << kBurst << " connections completed");
  HttpResponse readyz = HttpClient(stack.http_port()).Get("/readyz");
  CHECK_MESSAGE(readyz.status == 200, readyz.Describe());
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
