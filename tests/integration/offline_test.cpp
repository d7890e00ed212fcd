// Offline delivery and delivery through a downlink crash (SPEC §1.1, §1.2, §5): the inbox in
// Redis is the record, MQTT the fast path. A user who was offline gets everything by sync, in
// order; a device that missed pushes fills the gap by sync; a downlink killed with -9 loses no
// push to a connected device (a push may come twice; the SDK de-duplicates by seq).
#include <doctest/doctest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/keys.h"
#include "tests/support/courier_api.h"
#include "tests/support/http_client.h"
#include "tests/support/mqtt_device.h"
#include "tests/support/test_stack.h"

namespace courier::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// The distinct seqs pushed on `topic`, as the SDK would de-duplicate them.
std::set<int64_t> DistinctSeqs(const MqttDevice& d, const std::string& topic) {
  std::set<int64_t> out;
  for (const MqttMessage& m : d.MessagesOn(topic)) {
    if (m.json.is_object() && m.json.contains("seq")) out.insert(m.json["seq"].get<int64_t>());
  }
  return out;
}

TEST_CASE("offline: 30 messages to a user who never connected arrive by sync, in send order") {
  TestStack stack;
  HttpClient http(stack.http_port());
  Register(http, "alice");
  Register(http, "bob");
  Login alice = LogIn(http, "alice", "phone");

  std::vector<json> replies;
  for (int i = 0; i < 30; ++i)
    replies.push_back(SendOk(http, alice, "bob", "o-" + std::to_string(i)));

  // Bob logs in for the first time only now, and never connects to the broker.
  Login bob = LogIn(http, "bob", "phone");
  HttpResponse page = http.Get("/v1/sync?after=0", bob.token);  // default limit 100
  REQUIRE_MESSAGE(page.status == 200, page.Describe());
  CHECK(page.json["has_more"] == false);
  CHECK(page.json["next_after"] == 30);
  const json& items = page.json["items"];
  REQUIRE(items.size() == 30);
  for (size_t i = 0; i < 30; ++i) {
    CAPTURE(i);
    CHECK(items[i]["seq"] == i + 1);
    CHECK(items[i]["epoch"] == page.json["epoch"]);
    CHECK(items[i]["cmid"] == "o-" + std::to_string(i));
    CHECK(items[i]["id"] == replies[i]["id"]);
    CHECK(items[i]["conv_seq"] == i + 1);
    CHECK(items[i]["ts"] == replies[i]["ts"]);
    CHECK(items[i]["from"] == "alice");
  }
  // Paging through it with a small limit gives the same 30.
  std::vector<json> paged;
  int64_t after = 0;
  for (int n = 0; n < 20; ++n) {
    HttpResponse r = http.Get("/v1/sync?after=" + std::to_string(after) + "&limit=7", bob.token);
    REQUIRE_MESSAGE(r.status == 200, r.Describe());
    for (const json& item : r.json["items"]) paged.push_back(item);
    after = r.json["next_after"].get<int64_t>();
    if (!r.json["has_more"].get<bool>()) break;
  }
  CHECK(json(paged) == items);
}

TEST_CASE("offline: a device that misses 5 messages gets exactly those 5 by sync after last seq") {
  TestStack stack;
  HttpClient http(stack.http_port());
  Register(http, "alice");
  Register(http, "bob");
  Login alice = LogIn(http, "alice", "phone");
  Login bob = LogIn(http, "bob", "phone");
  MqttDevice phone(stack.mqtt());
  ConnectInbox(phone, bob, stack);

  for (int i = 1; i <= 3; ++i) SendOk(http, alice, "bob", "live-" + std::to_string(i));
  REQUIRE_MESSAGE(WaitForSeq(phone, "courier/u/bob", 3), stack.AllLogTails());
  const int64_t last_seq = 3;
  REQUIRE(DistinctSeqs(phone, "courier/u/bob") == std::set<int64_t>{1, 2, 3});

  REQUIRE(phone.Disconnect());
  std::vector<json> missed;
  for (int i = 1; i <= 5; ++i)
    missed.push_back(SendOk(http, alice, "bob", "missed-" + std::to_string(i)));

  // Back: subscribe first, then sync after the last seq seen (SPEC §5).
  phone.ClearMessages();
  ConnectInbox(phone, bob, stack);
  std::vector<json> got = SyncFrom(http, bob, last_seq);
  REQUIRE(got.size() == 5);
  for (size_t i = 0; i < 5; ++i) {
    CAPTURE(i);
    CHECK(got[i]["seq"] == last_seq + 1 + static_cast<int64_t>(i));
    CHECK(got[i]["cmid"] == "missed-" + std::to_string(i + 1));
    CHECK(got[i]["id"] == missed[i]["id"]);
  }
  // An ack of the last seq it saw tells the device how far the inbox goes, under the same epoch.
  HttpResponse ack = http.Post("/v1/acks", {{"seq", last_seq}}, bob.token);
  REQUIRE_MESSAGE(ack.status == 200, ack.Describe());
  CHECK(ack.json == json{{"latest_seq", 8}, {"epoch", got[0]["epoch"]}});
  // And live pushes continue after them.
  json next = SendOk(http, alice, "bob", "live-4");
  REQUIRE(WaitForSeq(phone, "courier/u/bob", 9));
  std::vector<MqttMessage> pushes = phone.MessagesOn("courier/u/bob");
  REQUIRE_FALSE(pushes.empty());
  CHECK(pushes.back().json["id"] == next["id"]);
  CHECK(pushes.back().json["cmid"] == "live-4");
}

TEST_CASE("offline: kill -9 of the downlink while messages are sent loses no push") {
  TestStack stack;
  HttpClient http(stack.http_port());
  Register(http, "alice");
  Register(http, "bob");
  Login alice = LogIn(http, "alice", "phone");
  Login bob = LogIn(http, "bob", "phone");
  MqttDevice phone(stack.mqtt());
  ConnectInbox(phone, bob, stack);

  // One sender, one message after another (paced), until 10 more went through after the restart:
  // some are sent before the kill, some while the downlink is down, some after. Only the sending
  // thread touches `replies` until it is joined; `sent` publishes its progress.
  std::vector<HttpResponse> replies;
  std::atomic<int> sent{0};
  std::atomic<bool> stop{false};
  std::thread sender([&] {
    for (int i = 0; i < 400 && !stop.load(); ++i) {
      replies.push_back(Send(http, alice, "bob", "k-" + std::to_string(i)));
      sent = i + 1;
      std::this_thread::sleep_for(10ms);
    }
  });
  auto wait_sent = [&](int n) {
    for (int i = 0; i < 2000 && sent.load() < n; ++i) std::this_thread::sleep_for(5ms);
  };
  wait_sent(15);
  stack.KillDownlink();
  const int sent_at_kill = sent.load();
  wait_sent(sent_at_kill + 20);
  Status restarted = stack.StartDownlink();
  const int sent_at_restart = sent.load();
  wait_sent(sent_at_restart + 10);
  stop = true;
  sender.join();
  REQUIRE_MESSAGE(restarted.ok(), restarted.ToString());
  const int messages = static_cast<int>(replies.size());
  MESSAGE("killed after " << sent_at_kill << " sends, restarted after " << sent_at_restart << ", "
                          << messages << " in all");
  REQUIRE(sent_at_restart - sent_at_kill >= 20);  // sent while it was down
  REQUIRE(messages - sent_at_restart >= 10);      // and after it came back
  for (int i = 0; i < messages; ++i) {
    CAPTURE(i);
    REQUIRE_MESSAGE(replies[i].status == 201, replies[i].Describe());
  }

  // Every seq 1..N reaches the connected device; some may come twice. An entry the killed
  // consumer had read but not acknowledged is claimed by the new one after it idles 30 s (design:
  // XAUTOCLAIM), hence the bound.
  std::set<int64_t> all;
  for (int i = 1; i <= messages; ++i) all.insert(i);
  const auto deadline = std::chrono::steady_clock::now() + 45s;
  while (DistinctSeqs(phone, "courier/u/bob") != all &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
  }
  std::set<int64_t> seqs = DistinctSeqs(phone, "courier/u/bob");
  std::vector<int64_t> missing;
  for (int64_t s : all) {
    if (!seqs.count(s)) missing.push_back(s);
  }
  CHECK_MESSAGE(missing.empty(), missing.size() << " seqs never pushed, first "
                                                << (missing.empty() ? 0 : missing.front()) << "\n"
                                                << stack.LogTail(Component::kDownlink, 60));
  CHECK(seqs.size() == static_cast<size_t>(messages));  // nothing beyond 1..N
  // Duplicates carry the same envelope as the original.
  for (const MqttMessage& m : phone.MessagesOn("courier/u/bob")) {
    int64_t s = m.json["seq"].get<int64_t>();
    REQUIRE(s >= 1);
    REQUIRE(s <= messages);
    CHECK(m.json["cmid"] == "k-" + std::to_string(s - 1));
    CHECK(m.json["id"] == replies[s - 1].json["id"]);
  }
  MESSAGE(phone.MessagesOn("courier/u/bob").size() << " pushes for " << messages << " messages");

  // The inbox has each message once, in send order.
  std::vector<json> inbox = SyncAll(http, bob);
  REQUIRE(inbox.size() == static_cast<size_t>(messages));
  for (int i = 0; i < messages; ++i) {
    CAPTURE(i);
    CHECK(inbox[i]["seq"] == i + 1);
    CHECK(inbox[i]["cmid"] == "k-" + std::to_string(i));
    CHECK(inbox[i]["id"] == replies[i].json["id"]);
  }
}

TEST_CASE("offline: deliveries a killed downlink had in flight are taken over and pushed") {
  TestStackOptions options;
  options.delivery_shards = 2;
  TestStack stack(options);
  HttpClient http(stack.http_port());
  Register(http, "alice");
  Register(http, "bob");
  Login alice = LogIn(http, "alice", "phone");
  Login bob = LogIn(http, "bob", "phone");
  MqttDevice phone(stack.mqtt());
  ConnectInbox(phone, bob, stack);
  SendOk(http, alice, "bob", "f-0");
  REQUIRE_MESSAGE(WaitForSeq(phone, "courier/u/bob", 1), stack.AllLogTails());

  // Entries read by the consumer group but not yet acknowledged (XACK after the broker's PUBACK).
  auto pending = [&stack]() -> long long {
    long long n = 0;
    for (int shard = 0; shard < 2; ++shard) {
      auto r = stack.RedisCommand({"XPENDING", keys::DeliveryStream(shard), "downlink"});
      if (!r.ok() || !r->is_array() || r->elements.empty()) return -1;
      n += r->elements[0].integer;
    }
    return n;
  };
  for (int i = 0; i < 100 && pending() != 0; ++i) std::this_thread::sleep_for(50ms);
  REQUIRE(pending() == 0);  // f-0's XACK follows its PUBACK, maybe just after bob got it

  // A frozen broker holds back the PUBACKs: the downlink has read deliveries (at least the first
  // of the next 5) that it has not acknowledged when it is killed.
  ChildProcess& broker = stack.BrokerProcessFor("bob");  // bob's (the only one in single)
  REQUIRE(broker.Signal(SIGSTOP));
  struct Thaw {  // never leave the broker frozen, whatever fails below
    ChildProcess& p;
    ~Thaw() { p.Signal(SIGCONT); }
  } thaw{broker};
  for (int i = 1; i <= 5; ++i) SendOk(http, alice, "bob", "f-" + std::to_string(i));
  for (int i = 0; i < 100 && pending() < 1; ++i) std::this_thread::sleep_for(50ms);
  const long long in_flight = pending();
  REQUIRE_MESSAGE(in_flight >= 1, stack.LogTail(Component::kDownlink));
  MESSAGE(in_flight << " deliveries in flight at the kill");
  stack.KillDownlink();
  REQUIRE(broker.Signal(SIGCONT));
  Status restarted = stack.StartDownlink();
  REQUIRE_MESSAGE(restarted.ok(), restarted.ToString());
  SendOk(http, alice, "bob", "f-6");  // and one more after the restart

  // Every message reaches the connected device (some possibly twice).
  const std::set<int64_t> all = {1, 2, 3, 4, 5, 6, 7};
  const auto start = std::chrono::steady_clock::now();
  while (DistinctSeqs(phone, "courier/u/bob") != all &&
         std::chrono::steady_clock::now() - start < 45s) {
    std::this_thread::sleep_for(100ms);
  }
  CHECK_MESSAGE(DistinctSeqs(phone, "courier/u/bob") == all, stack.LogTail(Component::kDownlink));
  // The killed consumer's entries do not stay pending for ever: another consumer claims them
  // once idle for 30 s (design: XAUTOCLAIM, looked for every 5 s), pushes and acknowledges them.
  while (pending() != 0 && std::chrono::steady_clock::now() - start < 50s) {
    std::this_thread::sleep_for(250ms);
  }
  CHECK_MESSAGE(pending() == 0, stack.LogTail(Component::kDownlink));
  MESSAGE(phone.MessagesOn("courier/u/bob").size()
          << " pushes for 7 messages; pending drained after "
          << std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now() - start)
                 .count()
          << " ms");
  std::vector<json> inbox = SyncAll(http, bob);
  REQUIRE(inbox.size() == 7);
  for (int i = 0; i < 7; ++i) {
    CHECK(inbox[i]["seq"] == i + 1);
    CHECK(inbox[i]["cmid"] == "f-" + std::to_string(i));
  }
}

}  // namespace
}  // namespace courier::testing
