// Sender retries by cmid (SPEC §1.2, §2, §3): the same user sending the same cmid again — from
// any device, with any body, concurrently or not — gets the original message back (200, same
// fields) and never a second one: one inbox entry, one push.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/courier_api.h"
#include "tests/support/http_client.h"
#include "tests/support/mqtt_device.h"
#include "tests/support/test_stack.h"

namespace courier::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

size_t CountWithCmid(const std::vector<json>& envelopes, const std::string& cmid) {
  size_t n = 0;
  for (const json& e : envelopes) n += e.value("cmid", "") == cmid ? 1 : 0;
  return n;
}

TEST_CASE("idempotency: a repeated cmid answers 200 with the original fields and writes nothing") {
  TestStack stack;
  HttpClient http(stack.http_port());
  Register(http, "alice");
  Register(http, "bob");
  Login alice = LogIn(http, "alice", "phone", "ios");
  Login alice_web = LogIn(http, "alice", "browser", "web");
  Login bob = LogIn(http, "bob", "phone");
  MqttDevice bob_phone(stack.mqtt());
  ConnectInbox(bob_phone, bob, stack);

  HttpResponse first = Send(http, alice, "bob", "dup-1", json{{"v", 1}});
  REQUIRE_MESSAGE(first.status == 201, first.Describe());
  REQUIRE_MESSAGE(WaitForCmid(bob_phone, "dup-1"), stack.AllLogTails());

  // Again from the same device with another body, then from another device of alice.
  std::this_thread::sleep_for(5ms);  // so that a new ts would differ
  HttpResponse again = Send(http, alice, "bob", "dup-1", json{{"v", 2}});
  HttpResponse other_device = Send(http, alice_web, "bob", "dup-1", json::array());
  for (const HttpResponse* r : {&again, &other_device}) {
    CHECK_MESSAGE(r->status == 200, r->Describe());
    CHECK(r->json == first.json);  // id, conv, conv_seq, ts: all the original's
  }
  CHECK(first.json["conv_seq"] == 1);

  // A later message is pushed after any push of dup-1 would have been: once it is here, the
  // duplicate had its chance.
  HttpResponse sentinel = Send(http, alice, "bob", "sentinel", json{{"v", 3}});
  REQUIRE_MESSAGE(sentinel.status == 201, sentinel.Describe());
  CHECK(sentinel.json["conv_seq"] == 2);
  REQUIRE_MESSAGE(WaitForCmid(bob_phone, "sentinel"), stack.AllLogTails());

  std::vector<json> pushes = PushesOn(bob_phone, "courier/u/bob");
  REQUIRE(pushes.size() == 2);
  CHECK(pushes[0]["cmid"] == "dup-1");
  CHECK(pushes[0]["seq"] == 1);
  CHECK(pushes[0]["id"] == first.json["id"]);
  CHECK(pushes[0]["body"] == json{{"v", 1}});
  CHECK(pushes[1]["cmid"] == "sentinel");
  CHECK(pushes[1]["seq"] == 2);

  std::vector<json> inbox = Inbox(http, bob);
  REQUIRE(inbox.size() == 2);
  CHECK(inbox == pushes);
  std::vector<json> own = Inbox(http, alice_web);  // the sender's copies
  REQUIRE(own.size() == 2);
  CHECK(CountWithCmid(own, "dup-1") == 1);
  CHECK(own[0]["seq"] == 1);
  CHECK(own[1]["seq"] == 2);
  // The conversation's history holds it once too.
  HttpResponse history = http.Get("/v1/conversations/u:alice:bob/messages", bob.token);
  REQUIRE_MESSAGE(history.status == 200, history.Describe());
  REQUIRE(history.json["items"].size() == 2);
  CHECK(history.json["items"][0]["cmid"] == "sentinel");
  CHECK(history.json["items"][1]["cmid"] == "dup-1");
  CHECK(history.json["items"][1]["body"] == json{{"v", 1}});

  // Still a duplicate later on, also after other sends.
  HttpResponse late = Send(http, alice, "bob", "dup-1", json{{"v", 4}});
  CHECK_MESSAGE(late.status == 200, late.Describe());
  CHECK(late.json == first.json);
  CHECK(Inbox(http, bob).size() == 2);
}

TEST_CASE("idempotency: 8 concurrent sends of one cmid from 2 devices make exactly one message") {
  TestStack stack;
  HttpClient http(stack.http_port());
  Register(http, "alice");
  Register(http, "bob");
  Login devices[2] = {LogIn(http, "alice", "phone", "ios"),
                      LogIn(http, "alice", "laptop", "desktop")};
  Login bob = LogIn(http, "bob", "phone");
  MqttDevice bob_phone(stack.mqtt());
  ConnectInbox(bob_phone, bob, stack);

  constexpr int kThreads = 8;
  std::vector<HttpResponse> replies(kThreads);
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      replies[i] = Send(http, devices[i % 2], "bob", "race-1", json{{"thread", i}});
    });
  }
  while (ready.load() < kThreads) std::this_thread::yield();
  go = true;
  for (std::thread& t : threads) t.join();

  int created = 0, duplicates = 0, winner = -1;
  for (int i = 0; i < kThreads; ++i) {
    CAPTURE(i);
    if (replies[i].status == 201) {
      ++created;
      winner = i;
    } else if (replies[i].status == 200) {
      ++duplicates;
    } else {
      FAIL_CHECK("unexpected answer: " << replies[i].Describe());
    }
  }
  CHECK(created == 1);
  CHECK(duplicates == kThreads - 1);
  REQUIRE(winner >= 0);
  const json& original = replies[winner].json;
  CHECK(original["conv_seq"] == 1);
  for (int i = 0; i < kThreads; ++i) {
    CAPTURE(i);
    CHECK(replies[i].json == original);
  }

  HttpResponse sentinel = Send(http, devices[0], "bob", "after-race", json{{"thread", -1}});
  REQUIRE_MESSAGE(sentinel.status == 201, sentinel.Describe());
  CHECK(sentinel.json["conv_seq"] == 2);
  REQUIRE_MESSAGE(WaitForCmid(bob_phone, "after-race"), stack.AllLogTails());
  std::vector<json> pushes = PushesOn(bob_phone, "courier/u/bob");
  REQUIRE(pushes.size() == 2);
  CHECK(pushes[0]["cmid"] == "race-1");
  CHECK(pushes[0]["id"] == original["id"]);
  CHECK(pushes[0]["body"] == json{{"thread", winner}});  // the body of the send that won
  CHECK(pushes[0]["seq"] == 1);
  CHECK(pushes[1]["seq"] == 2);

  std::vector<json> inbox = Inbox(http, bob);
  REQUIRE(inbox.size() == 2);
  CHECK(CountWithCmid(inbox, "race-1") == 1);
  std::vector<json> own = Inbox(http, devices[1]);
  REQUIRE(own.size() == 2);
  CHECK(CountWithCmid(own, "race-1") == 1);
  CHECK(own[0]["seq"] == 1);
  CHECK(own[1]["seq"] == 2);
}

TEST_CASE("idempotency: a cmid is scoped to its sender") {
  TestStack stack;
  HttpClient http(stack.http_port());
  auto [alice, bob, carol] = RegisterAndLogIn(http, {"alice", "bob", "carol"});

  HttpResponse from_alice = Send(http, alice, "bob", "shared", json{{"from", "alice"}});
  HttpResponse from_carol = Send(http, carol, "bob", "shared", json{{"from", "carol"}});
  REQUIRE_MESSAGE(from_alice.status == 201, from_alice.Describe());
  REQUIRE_MESSAGE(from_carol.status == 201, from_carol.Describe());
  CHECK(from_alice.json["id"] != from_carol.json["id"]);
  CHECK(from_alice.json["conv"] == "u:alice:bob");
  CHECK(from_carol.json["conv"] == "u:bob:carol");
  CHECK(from_alice.json["conv_seq"] == 1);
  CHECK(from_carol.json["conv_seq"] == 1);

  // Bob himself may use the same cmid: his own key space, a new message.
  HttpResponse from_bob = Send(http, bob, "alice", "shared", json{{"from", "bob"}});
  REQUIRE_MESSAGE(from_bob.status == 201, from_bob.Describe());
  CHECK(from_bob.json["conv"] == "u:alice:bob");
  CHECK(from_bob.json["conv_seq"] == 2);

  // Alice again with the same cmid, even to someone else: her original message comes back.
  HttpResponse alice_again = Send(http, alice, "carol", "shared", json{{"from", "alice2"}});
  CHECK_MESSAGE(alice_again.status == 200, alice_again.Describe());
  CHECK(alice_again.json == from_alice.json);

  std::vector<json> inbox = Inbox(http, bob);
  REQUIRE(inbox.size() == 3);  // alice's, carol's, and bob's own copy
  CHECK(inbox[0]["seq"] == 1);
  CHECK(inbox[0]["from"] == "alice");
  CHECK(inbox[1]["seq"] == 2);
  CHECK(inbox[1]["from"] == "carol");
  CHECK(inbox[2]["seq"] == 3);
  CHECK(inbox[2]["from"] == "bob");
  CHECK(Inbox(http, carol).size() == 1);  // nothing from alice's retry
  CHECK(Inbox(http, alice).size() == 2);  // her message and bob's
}

}  // namespace
}  // namespace courier::testing
