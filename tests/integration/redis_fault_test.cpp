// Redis outages (SPEC §1.2, §3): while Redis is down or frozen the uplink answers 503
// `unavailable` with Retry-After, quickly (bounded timeouts, never a hang), and /readyz is 503;
// when Redis is back with its append-only file the uplink recovers without a restart, every
// message that got a 2xx is still there with the same seq, and seq continues without holes.
#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/support/courier_api.h"
#include "tests/support/http_client.h"
#include "tests/support/mqtt_device.h"
#include "tests/support/test_stack.h"

namespace courier::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

// "No hang": far above the uplink's Redis timeouts (connect 500 ms, command 2 s), far below the
// HTTP client's own 10 s.
constexpr auto kNoHangBound = 5000ms;

// seq 1..n, each once, in order.
void CheckContiguous(const std::vector<json>& inbox, size_t n) {
  REQUIRE(inbox.size() == n);
  for (size_t i = 0; i < n; ++i) CHECK(inbox[i]["seq"] == i + 1);
}

// One request, timed: a 503 `unavailable` with Retry-After, well within the no-hang bound.
template <typename Request>
void CheckUnavailable(const std::string& what, Request request) {
  CAPTURE(what);
  const auto start = Steady::now();
  HttpResponse r = request();
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - start);
  CAPTURE(elapsed.count());
  CHECK_MESSAGE(r.status == 503, r.Describe());
  CHECK(r.error_code() == "unavailable");
  const std::string retry_after = r.header("Retry-After");
  CHECK_MESSAGE(
      (!retry_after.empty() && retry_after.find_first_not_of("0123456789") == std::string::npos &&
       std::stoi(retry_after) >= 1),
      "Retry-After: '" << retry_after << "'");
  CHECK(elapsed < kNoHangBound);
}

bool WaitForReady(const HttpClient& http, std::chrono::milliseconds timeout) {
  const auto deadline = Steady::now() + timeout;
  while (Steady::now() < deadline) {
    if (http.Get("/readyz").status == 200) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

// Everything that needs Redis answers 503 at once; health stays 200.
void CheckOutage(const HttpClient& http, const Login& alice, const Login& bob, const char* round) {
  CAPTURE(round);
  CheckUnavailable("send", [&] { return Send(http, alice, "bob", "during"); });
  CheckUnavailable("sync", [&] { return Sync(http, bob, "?after=0&limit=1000"); });
  CheckUnavailable("ack", [&] { return http.Post("/v1/acks", {{"seq", 1}}, bob.token); });
  CheckUnavailable("presence", [&] { return http.Get("/v1/presence?users=alice", bob.token); });
  CheckUnavailable("login", [&] {
    return http.Post("/v1/sessions",
                     {{"user_id", "alice"}, {"password", "pw-alice-1"}, {"device_id", "x"}});
  });
  CheckUnavailable("register", [&] {
    return http.Post("/v1/users", {{"user_id", "dave"}, {"password", "pw"}});
  });
  CheckUnavailable("readyz", [&] { return http.Get("/readyz"); });
  CHECK(http.Get("/healthz").status == 200);
}

// A Redis outage and its end: `kill` sends SIGKILL instead of SIGTERM.
void RunOutage(bool kill) {
  TestStack stack;
  HttpClient http(stack.http_port());
  Register(http, "alice");
  Register(http, "bob");
  Login alice = LogIn(http, "alice");
  Login bob = LogIn(http, "bob");
  MqttDevice phone(stack.mqtt());
  ConnectInbox(phone, bob, stack);

  std::vector<json> replies;
  for (int i = 1; i <= 5; ++i)
    replies.push_back(SendOk(http, alice, "bob", "pre-" + std::to_string(i)));
  std::string epoch_before;
  const std::vector<json> inbox_before = Inbox(http, bob, &epoch_before);
  CheckContiguous(inbox_before, 5);
  REQUIRE(WaitForSeq(phone, "courier/u/bob", 5));

  if (kill) {
    // The harness runs Redis with appendonly yes and appendfsync everysec: the AOF is fsynced
    // once a second, and under load Redis may hold back its AOF write for up to 2 s while an fsync
    // is still running. Wait past that second before the kill -9, so that the test checks what
    // the AOF promises rather than the fsync policy's window.
    std::this_thread::sleep_for(1500ms);
    stack.KillRedis();
  } else {
    stack.StopRedis();
  }
  REQUIRE_FALSE(stack.Running(Component::kRedis));

  CheckOutage(http, alice, bob, "first");
  CheckOutage(http, alice, bob, "second");  // also once the pooled connections are gone
  // The broker can't tell whether a token was revoked without Redis: it lets no device in.
  MqttDevice alice_phone(stack.mqtt());
  CHECK_FALSE(alice_phone.Connect(alice.client_id(), "alice", alice.token, std::chrono::seconds(30),
                                  5000ms));

  Status started = stack.StartRedis();  // same port, same AOF
  REQUIRE_MESSAGE(started.ok(), started.ToString());
  REQUIRE_MESSAGE(WaitForReady(http, 15000ms), stack.LogTail(Component::kUplink));
  CHECK_MESSAGE(stack.Running(Component::kUplink), "the uplink was not restarted");

  // Everything that got a 2xx is there, unchanged, under the same epoch.
  std::string epoch_after;
  std::vector<json> inbox = Inbox(http, bob, &epoch_after);
  CHECK(epoch_after == epoch_before);
  REQUIRE(inbox.size() == 5);
  CHECK(inbox == inbox_before);
  for (size_t i = 0; i < 5; ++i) CHECK(inbox[i]["id"] == replies[i]["id"]);

  // The send refused during the outage wrote nothing: its cmid is new now. Seq continues.
  json during = SendOk(http, alice, "bob", "during");
  CHECK(during["conv_seq"] == 6);
  SendOk(http, alice, "bob", "post-1");
  SendOk(http, alice, "bob", "post-2");
  inbox = Inbox(http, bob);
  CheckContiguous(inbox, 8);
  CHECK(inbox[5]["cmid"] == "during");
  CHECK(inbox[5]["id"] == during["id"]);
  CHECK(inbox[7]["cmid"] == "post-2");
  CheckContiguous(Inbox(http, alice), 8);
  // Registration and login work again; the old sessions survived.
  Register(http, "carol");
  LogIn(http, "carol");
  CHECK_MESSAGE(alice_phone.Connect(alice.client_id(), "alice", alice.token),
                alice_phone.last_error());
  // And the downlink delivers again, to a device that stayed connected to the broker.
  CHECK_MESSAGE(WaitForSeq(phone, "courier/u/bob", 8, 20s), stack.LogTail(Component::kDownlink));
}

TEST_CASE("redis fault: Redis stopped → 503 unavailable without a hang; restarted → no loss") {
  RunOutage(/*kill=*/false);
}

TEST_CASE("redis fault: Redis killed with -9 → 503 unavailable; restarted from its AOF → no loss") {
  RunOutage(/*kill=*/true);
}

TEST_CASE(
    "redis fault: a frozen Redis (SIGSTOP) → 503 within the timeouts; a failed send is "
    "retried by cmid without a duplicate") {
  TestStackOptions options;
  options.start_downlink = false;  // not under test; one client of Redis fewer
  TestStack stack(options);
  HttpClient http(stack.http_port());
  Register(http, "alice");
  Register(http, "bob");
  Login alice = LogIn(http, "alice");
  Login bob = LogIn(http, "bob");
  SendOk(http, alice, "bob", "pre-1");
  SendOk(http, alice, "bob", "pre-2");

  // Every Redis process (the cluster topology: every node) freezes.
  const std::vector<ChildProcess*> redis = stack.processes(Component::kRedis);
  struct Thaw {  // never leave Redis frozen, whatever fails below
    const std::vector<ChildProcess*>& ps;
    ~Thaw() {
      for (ChildProcess* p : ps) p->Signal(SIGCONT);
    }
  } thaw{redis};
  for (ChildProcess* p : redis) REQUIRE(p->Signal(SIGSTOP));

  // Three times as many concurrent requests as the uplink has workers (16): none waits behind
  // the others' timeouts — once one has timed out, the rest fail fast (RedisPool's breaker).
  // Reads only: a frozen Redis still runs what it received once it thaws.
  {
    constexpr int kConcurrent = 48;
    std::vector<std::future<std::pair<int, int64_t>>> answers;
    for (int i = 0; i < kConcurrent; ++i) {
      answers.push_back(std::async(std::launch::async, [&stack, &bob] {
        HttpClient own(stack.http_port());
        const auto start = Steady::now();
        HttpResponse r = Sync(own, bob, "?after=0&limit=10");
        return std::make_pair(
            r.status, static_cast<int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               Steady::now() - start)
                                               .count()));
      }));
    }
    int unavailable = 0;
    int64_t slowest_ms = 0;
    for (auto& a : answers) {
      auto [status, ms] = a.get();
      unavailable += status == 503;
      slowest_ms = std::max(slowest_ms, ms);
    }
    MESSAGE(kConcurrent << " concurrent syncs while frozen: " << unavailable
                        << " answered 503, the slowest in " << slowest_ms << " ms");
    CHECK(unavailable == kConcurrent);
    CHECK(slowest_ms < std::chrono::milliseconds(kNoHangBound).count());
  }
  CheckUnavailable("send while frozen", [&] { return Send(http, alice, "bob", "frozen"); });
  CheckUnavailable("sync while frozen", [&] { return Sync(http, bob, "?after=0&limit=1000"); });
  CheckUnavailable("readyz while frozen", [&] { return http.Get("/readyz"); });
  CHECK(http.Get("/healthz").status == 200);

  for (ChildProcess* p : redis) REQUIRE(p->Signal(SIGCONT));
  REQUIRE_MESSAGE(WaitForReady(http, 15000ms), stack.LogTail(Component::kUplink));

  // The frozen Redis may still have run the send it had received: the retry with the same cmid
  // returns that message (200) or makes it now (201) — either way exactly one.
  HttpResponse retry = Send(http, alice, "bob", "frozen");
  REQUIRE_MESSAGE((retry.status == 200 || retry.status == 201), retry.Describe());
  MESSAGE("retry after the freeze: " << retry.status);
  CHECK(retry.json["conv_seq"] == 3);
  SendOk(http, alice, "bob", "post-1");
  std::vector<json> inbox = Inbox(http, bob);
  CheckContiguous(inbox, 4);
  CHECK(inbox[2]["cmid"] == "frozen");
  CHECK(inbox[2]["id"] == retry.json["id"]);
  CHECK(inbox[2]["ts"] == retry.json["ts"]);
  CHECK(inbox[3]["cmid"] == "post-1");
  CheckContiguous(Inbox(http, alice), 4);
}

}  // namespace
}  // namespace courier::testing
