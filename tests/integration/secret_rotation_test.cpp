// JWT secret rotation as docs/operations.md describes it, on a running stack: the new secret goes
// into the secret file and the old one into the previous-secret file; the broker re-reads both
// on SIGHUP, the uplinks and downlinks on restart. During the rotation tokens signed with either
// secret are accepted everywhere, new tokens are signed with the new one, and nothing in flight
// is lost; once the previous secret is dropped, its tokens are refused by the uplink and the
// broker alike.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/jwt.h"
#include "tests/support/courier_api.h"
#include "tests/support/http_client.h"
#include "tests/support/mqtt_device.h"
#include "tests/support/test_stack.h"

namespace courier::testing {
namespace {

using namespace std::chrono_literals;

void WriteSecret(const std::string& path, const std::string& secret) {
  std::ofstream out(path, std::ios::trunc);
  out << secret << "\n";
  REQUIRE_MESSAGE(out.good(), "cannot write " << path);
}

// SIGHUP to every broker of the stack (the cluster topology runs three).
void SignalBrokers(TestStack& stack) {
  for (ChildProcess* p : stack.processes(Component::kBroker)) REQUIRE(p->Signal(SIGHUP));
}

// Every broker's log says it has read the secret files `reloads` times since it started.
bool WaitForReloads(TestStack& stack, size_t reloads) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  const std::string line = "courier: reload read the JWT secret files again";
  while (std::chrono::steady_clock::now() < deadline) {
    bool all = true;
    for (ChildProcess* p : stack.processes(Component::kBroker)) {
      std::ifstream in(p->spec().log_path);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      size_t seen = 0;
      for (size_t at = text.find(line); at != std::string::npos; at = text.find(line, at + 1)) {
        ++seen;
      }
      if (seen < reloads) all = false;
    }
    if (all) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

// A device connection with `token`, for a yes/no answer.
bool BrokerAccepts(const TestStack& stack, const Login& login, const std::string& token) {
  MqttDevice d(stack.mqtt());
  const bool ok = d.Connect(login.client_id(), login.user, token, std::chrono::seconds(30), 5000ms);
  if (ok) d.Disconnect();
  return ok;
}

// `token`'s claims signed with `secret`: what a holder of that secret could present.
std::string ResignedWith(const std::string& token, const std::string& secret) {
  return JwtCodec({secret}).Sign(ClaimsOf(token));
}

TEST_CASE("secret rotation: both secrets accepted during it, the old one refused after it") {
  const std::string oldest = "rotation-test-oldest-secret-0123456789abcdef";
  const std::string rotated = "rotation-test-new-secret-fedcba9876543210";
  // The previous-secret file is named from the start (uplink flag, plugin option), as an
  // operator configures it once; before the first rotation it holds an older, retired secret.
  const std::string previous_file =
      (std::filesystem::temp_directory_path() /
       ("courier-previous-secret-" + std::to_string(getpid()) + "-" + std::to_string(WallMs())))
          .string();
  WriteSecret(previous_file, oldest);
  struct RemoveFile {
    std::string path;
    ~RemoveFile() { std::filesystem::remove(path); }
  } remove_previous{previous_file};

  TestStackOptions options;
  options.uplink_args = {"--jwt-previous-secret-file", previous_file};
  options.broker_config = {"plugin_opt_jwt_previous_secret_file " + previous_file};
  TestStack stack(options);
  const std::string original = stack.jwt_secret();
  HttpClient http(stack.http_port());
  Register(http, "alice");
  Register(http, "bob");
  Login alice = LogIn(http, "alice");
  Login bob = LogIn(http, "bob");
  MqttDevice bob_phone(stack.mqtt());
  ConnectDevice(bob_phone, bob, stack);
  SendOk(http, alice, "bob", "before");
  REQUIRE(WaitForSeq(bob_phone, bob.inbox(), 1));

  // ----- The rotation: new secret in, the current one becomes the previous one.
  WriteSecret(previous_file, original);
  WriteSecret(stack.secret_file(), rotated);
  SignalBrokers(stack);
  REQUIRE_MESSAGE(WaitForReloads(stack, 1), stack.LogTail(Component::kBroker));
  REQUIRE(stack.RestartUplink().ok());
  REQUIRE(stack.RestartDownlink().ok());  // its service token is now signed with the new secret

  // Old tokens still work everywhere; the live connection was not dropped by the reload.
  CHECK(bob_phone.Connected());
  CHECK(http.Get("/v1/sync", alice.token).status == 200);
  CHECK(BrokerAccepts(stack, alice, alice.token));
  // New logins are signed with the new secret only.
  Login alice_laptop = LogIn(http, "alice", "laptop", "desktop");
  CHECK(JwtCodec({rotated}).Verify(alice_laptop.token, WallMs() / 1000).ok());
  CHECK_FALSE(JwtCodec({original}).Verify(alice_laptop.token, WallMs() / 1000).ok());
  CHECK(BrokerAccepts(stack, alice_laptop, alice_laptop.token));
  // The retired secret is no longer accepted, by either.
  const std::string by_oldest = ResignedWith(alice.token, oldest);
  CHECK(http.Get("/v1/sync", by_oldest).status == 401);
  CHECK_FALSE(BrokerAccepts(stack, alice, by_oldest));
  // Messages flow: sent with an old and a new token, pushed by the restarted downlink.
  SendOk(http, alice, "bob", "during-old-token");
  SendOk(http, alice_laptop, "bob", "during-new-token");
  CHECK_MESSAGE(WaitForSeq(bob_phone, bob.inbox(), 3, 20s), stack.LogTail(Component::kDownlink));

  // ----- The rotation ends (the old tokens' lifetime has passed): the previous secret goes.
  WriteSecret(previous_file, rotated);
  SignalBrokers(stack);
  REQUIRE_MESSAGE(WaitForReloads(stack, 2), stack.LogTail(Component::kBroker));
  REQUIRE(stack.RestartUplink().ok());

  const HttpResponse stale = http.Get("/v1/sync", alice.token);
  CHECK_MESSAGE(stale.status == 401, stale.Describe());
  CHECK(stale.error_code() == "unauthorized");
  CHECK_FALSE(BrokerAccepts(stack, alice, alice.token));
  CHECK(http.Get("/v1/sync", alice_laptop.token).status == 200);
  CHECK(BrokerAccepts(stack, alice_laptop, alice_laptop.token));
  // Everything sent is in bob's inbox once, in order.
  const std::vector<nlohmann::json> inbox = Inbox(http, LogIn(http, "bob", "tablet", "android"));
  CHECK(inbox.size() == 3);
  CHECK(SeqsAreContiguousFromOne(inbox));
}

}  // namespace
}  // namespace courier::testing
