// The one-to-one push path end to end (SPEC §3, §4): a send through the uplink is pushed by the
// downlink through the broker to every connected device of the recipient and of the sender, with
// the documented inbox envelope, and `GET /v1/sync` returns the very same envelopes in seq order.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "tests/support/courier_api.h"
#include "tests/support/http_client.h"
#include "tests/support/mqtt_device.h"
#include "tests/support/test_stack.h"

namespace courier::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const std::set<std::string> kMessageEnvelopeKeys = {
    "seq", "epoch", "type", "id", "conv", "conv_seq", "from", "to", "cmid", "kind", "body", "ts"};

TEST_CASE("push: a message reaches the recipient's inbox topic with the documented envelope") {
  TestStack stack;
  HttpClient http(stack.http_port());
  Register(http, "alice");
  Register(http, "bob");
  Login alice = LogIn(http, "alice", "phone");
  Login bob = LogIn(http, "bob", "phone");
  CHECK(bob.inbox() == "courier/u/bob");
  MqttDevice phone(stack.mqtt());
  ConnectDevice(phone, bob, stack);

  // A body that only survives if it is carried as text: a 64-bit integer beyond 2^53, a
  // fraction, non-ASCII text, nesting, null and an empty object.
  const json body = json::parse(
      R"({"text":"h\u00e9llo \u2713 \"quoted\"","n":9007199254740993,"neg":-42,"f":1.5,)"
      R"("a":[1,null,true,"x"],"o":{}})");
  const int64_t before_ms = WallMs();
  json reply = SendOk(http, alice, "bob", "c-1", body);
  const int64_t after_ms = WallMs();
  CHECK(Keys(reply) == std::set<std::string>{"id", "conv", "conv_seq", "ts"});
  CHECK(reply["conv"] == "u:alice:bob");
  CHECK(reply["conv_seq"] == 1);
  CHECK(reply["id"].is_string());
  CHECK_FALSE(reply["id"].get<std::string>().empty());
  CHECK(reply["ts"].get<int64_t>() >= before_ms);
  CHECK(reply["ts"].get<int64_t>() <= after_ms);

  REQUIRE_MESSAGE(WaitForSeq(phone, "courier/u/bob", 1), "no push of seq 1\n"
                                                             << stack.AllLogTails());
  std::vector<MqttMessage> pushes = phone.MessagesOn("courier/u/bob");
  REQUIRE(pushes.size() == 1);
  const json push = pushes[0].json;  // a copy: `pushes` is reassigned below
  CHECK(pushes[0].qos == 1);
  CHECK_FALSE(pushes[0].retained);
  CHECK(Keys(push) == kMessageEnvelopeKeys);
  CHECK(push["seq"] == 1);
  CHECK(push["type"] == "message");
  CHECK(push["id"] == reply["id"]);
  CHECK(push["conv"] == "u:alice:bob");
  CHECK(push["conv_seq"] == 1);
  CHECK(push["from"] == "alice");
  CHECK(push["to"] == "user:bob");
  CHECK(push["cmid"] == "c-1");
  CHECK(push["kind"] == "text");
  CHECK(push["body"] == body);
  CHECK(push["body"]["n"].get<uint64_t>() == 9007199254740993ULL);
  CHECK(push["ts"] == reply["ts"]);
  REQUIRE(push["epoch"].is_string());
  CHECK_FALSE(push["epoch"].get<std::string>().empty());
  // Nothing on the device topic: that carries control only.
  CHECK(phone.MessagesOn("courier/d/bob/phone").empty());

  // Sync: the same envelope, and the epoch that the push carries.
  HttpResponse sync = Sync(http, bob, "?after=0");
  REQUIRE_MESSAGE(sync.status == 200, sync.Describe());
  CHECK(Keys(sync.json) == std::set<std::string>{"epoch", "items", "next_after", "has_more"});
  CHECK(sync.json["epoch"] == push["epoch"]);
  REQUIRE(sync.json["items"].size() == 1);
  CHECK(sync.json["items"][0] == push);
  CHECK(sync.json["next_after"] == 1);
  CHECK(sync.json["has_more"] == false);

  // An explicit kind is carried as given.
  json reply2 = SendOk(http, alice, "bob", "c-2", json{{"url", "https://x/y.png"}});
  HttpResponse image =
      http.Post("/v1/messages",
                {{"to", "user:bob"}, {"cmid", "c-3"}, {"kind", "image"}, {"body", {{"w", 640}}}},
                alice.token);
  REQUIRE_MESSAGE(image.status == 201, image.Describe());
  REQUIRE(WaitForSeq(phone, "courier/u/bob", 3));
  pushes = phone.MessagesOn("courier/u/bob");
  REQUIRE(pushes.size() == 3);
  CHECK(pushes[1].json["kind"] == "text");
  CHECK(pushes[1].json["conv_seq"] == reply2["conv_seq"]);
  CHECK(pushes[2].json["kind"] == "image");
  CHECK(pushes[2].json["body"] == json{{"w", 640}});
  CHECK(pushes[2].json["conv_seq"] == 3);
  CHECK(pushes[2].json["ts"] == image.json["ts"]);
  CHECK(pushes[2].json["epoch"] == push["epoch"]);
}

TEST_CASE("push: seq is 1..20 without holes for 20 messages from 2 concurrent senders") {
  TestStack stack;
  HttpClient http(stack.http_port());
  auto [alice, carol, bob] = RegisterAndLogIn(http, {"alice", "carol", "bob"});
  MqttDevice phone(stack.mqtt());
  ConnectDevice(phone, bob, stack);

  // Each sender sends 10, one after another (waiting for each 2xx); the two run at once.
  std::map<std::string, std::vector<HttpResponse>> replies;
  auto sender = [&http](const Login* from, std::vector<HttpResponse>* out) {
    for (int i = 0; i < 10; ++i) {
      out->push_back(
          Send(http, *from, "bob", from->user + "-" + std::to_string(i), json{{"i", i}}));
      if (!out->back().ok()) return;
    }
  };
  std::thread ta(sender, &alice, &replies["alice"]);
  std::thread tc(sender, &carol, &replies["carol"]);
  ta.join();
  tc.join();
  for (const auto& [who, rs] : replies) {
    REQUIRE(rs.size() == 10);
    for (size_t i = 0; i < rs.size(); ++i) {
      CHECK_MESSAGE(rs[i].status == 201, who << " #" << i << ": " << rs[i].Describe());
      CHECK(rs[i].json["conv_seq"] == i + 1);
    }
  }

  auto on_inbox = [](const MqttMessage& m) { return m.topic == "courier/u/bob"; };
  REQUIRE_MESSAGE(phone.WaitFor(on_inbox, 20, 15s), phone.MessageCount() << " pushes\n"
                                                                         << stack.AllLogTails());
  std::this_thread::sleep_for(300ms);  // a stray 21st push would show up now
  std::vector<json> pushes = PushesOn(phone, "courier/u/bob");
  REQUIRE(pushes.size() == 20);
  // In normal operation pushes arrive in seq order (SPEC §4): exactly 1, 2, ..., 20.
  std::vector<int64_t> seqs;
  std::set<std::string> ids;
  for (const json& p : pushes) {
    seqs.push_back(p["seq"].get<int64_t>());
    ids.insert(p["id"].get<std::string>());
  }
  std::vector<int64_t> expected(20);
  for (int i = 0; i < 20; ++i) expected[i] = i + 1;
  CHECK(seqs == expected);
  CHECK(ids.size() == 20);  // ids are unique
  // Per sender, the order of sending is the order of seq and of conv_seq.
  for (const std::string who : {"alice", "carol"}) {
    std::vector<int> order;
    int64_t conv_seq = 0;
    for (const json& p : pushes) {
      if (p["from"] != who) continue;
      order.push_back(p["body"]["i"].get<int>());
      CHECK(p["conv_seq"].get<int64_t>() == ++conv_seq);
      CHECK(p["conv"] == (who == "alice" ? "u:alice:bob" : "u:bob:carol"));
      CHECK(p["id"] == replies[who][order.back()].json["id"]);
      CHECK(p["ts"] == replies[who][order.back()].json["ts"]);
    }
    CHECK(order == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  }
  // The inbox holds the same 20, in the same order; each sender's own inbox holds its 10.
  CHECK(SyncAll(http, bob) == pushes);
  std::vector<json> own = SyncAll(http, alice);
  REQUIRE(own.size() == 10);
  for (size_t i = 0; i < own.size(); ++i) {
    CHECK(own[i]["seq"] == i + 1);
    CHECK(own[i]["cmid"] == "alice-" + std::to_string(i));
  }
}

TEST_CASE("push: the sender's own devices get the sender's copy, and a note to self is one entry") {
  TestStack stack;
  HttpClient http(stack.http_port());
  Register(http, "alice");
  Register(http, "bob");
  Login alice_phone = LogIn(http, "alice", "phone", "ios");
  Login alice_tablet = LogIn(http, "alice", "tablet", "android");
  Login bob = LogIn(http, "bob", "laptop");
  MqttDevice phone(stack.mqtt()), tablet(stack.mqtt()), laptop(stack.mqtt());
  ConnectDevice(phone, alice_phone, stack);
  ConnectDevice(tablet, alice_tablet, stack);
  ConnectDevice(laptop, bob, stack);

  // Bob first, so alice's and bob's seqs differ: bob's inbox gets seq 1 from his own copy.
  json first = SendOk(http, bob, "alice", "b-1", json{{"text", "hello alice"}});
  json reply = SendOk(http, alice_phone, "bob", "a-1", json{{"text", "hi bob"}});
  REQUIRE_MESSAGE(WaitForSeq(tablet, "courier/u/alice", 2), stack.AllLogTails());
  REQUIRE(WaitForSeq(phone, "courier/u/alice", 2));
  REQUIRE(WaitForSeq(laptop, "courier/u/bob", 2));

  for (const MqttDevice* d : {&phone, &tablet}) {
    std::vector<json> got = PushesOn(*d, "courier/u/alice");
    REQUIRE(got.size() == 2);
    CHECK(got[0]["seq"] == 1);
    CHECK(got[0]["from"] == "bob");
    CHECK(got[0]["id"] == first["id"]);
    const json& copy = got[1];
    CHECK(Keys(copy) == kMessageEnvelopeKeys);
    CHECK(copy["seq"] == 2);  // the sender's seq
    CHECK(copy["from"] == "alice");
    CHECK(copy["to"] == "user:bob");
    CHECK(copy["id"] == reply["id"]);
    CHECK(copy["conv"] == "u:alice:bob");
    CHECK(copy["conv_seq"] == 2);
    CHECK(copy["cmid"] == "a-1");
    CHECK(copy["ts"] == reply["ts"]);
    CHECK(copy["body"] == json{{"text", "hi bob"}});
  }
  // Both of alice's devices got byte-identical payloads.
  CHECK(phone.MessagesOn("courier/u/alice")[1].payload ==
        tablet.MessagesOn("courier/u/alice")[1].payload);
  std::string alice_epoch, bob_epoch;
  std::vector<json> alice_inbox = SyncAll(http, alice_phone, &alice_epoch);
  CHECK(alice_inbox == PushesOn(phone, "courier/u/alice"));
  CHECK(PushesOn(phone, "courier/u/alice")[1]["epoch"] == alice_epoch);
  std::vector<json> bob_inbox = SyncAll(http, bob, &bob_epoch);
  REQUIRE(bob_inbox.size() == 2);
  CHECK(bob_inbox[1]["seq"] == 2);
  CHECK(bob_inbox[1]["id"] == reply["id"]);
  CHECK(bob_inbox[1]["epoch"] == bob_epoch);
  CHECK(bob_inbox == PushesOn(laptop, "courier/u/bob"));

  // A note to self: conversation u:alice:alice, exactly one inbox entry (seq 3), one push each.
  json self = SendOk(http, alice_tablet, "alice", "self-1", json{{"text", "remember"}});
  CHECK(self["conv"] == "u:alice:alice");
  CHECK(self["conv_seq"] == 1);
  json sentinel = SendOk(http, bob, "alice", "b-2", json{{"text", "after"}});
  REQUIRE(WaitForSeq(phone, "courier/u/alice", 4));
  REQUIRE(WaitForSeq(tablet, "courier/u/alice", 4));
  for (const MqttDevice* d : {&phone, &tablet}) {
    std::vector<json> got = PushesOn(*d, "courier/u/alice");
    REQUIRE(got.size() == 4);
    CHECK(got[2]["seq"] == 3);
    CHECK(got[2]["conv"] == "u:alice:alice");
    CHECK(got[2]["to"] == "user:alice");
    CHECK(got[2]["id"] == self["id"]);
    CHECK(got[3]["seq"] == 4);
    CHECK(got[3]["id"] == sentinel["id"]);
  }
  CHECK(SyncAll(http, alice_phone).size() == 4);
}

TEST_CASE("push: every device of the recipient, on two platforms, gets each push") {
  TestStack stack;
  HttpClient http(stack.http_port());
  Register(http, "alice");
  Register(http, "bob");
  Login alice = LogIn(http, "alice", "phone");
  Login bob_ios = LogIn(http, "bob", "phone", "ios");
  Login bob_desktop = LogIn(http, "bob", "desktop", "desktop");
  MqttDevice phone(stack.mqtt()), desktop(stack.mqtt());
  ConnectDevice(phone, bob_ios, stack);
  ConnectDevice(desktop, bob_desktop, stack);

  std::vector<json> replies;
  for (int i = 1; i <= 3; ++i) {
    replies.push_back(SendOk(http, alice, "bob", "m" + std::to_string(i), json{{"i", i}}));
  }
  REQUIRE_MESSAGE(WaitForSeq(phone, "courier/u/bob", 3), stack.AllLogTails());
  REQUIRE_MESSAGE(WaitForSeq(desktop, "courier/u/bob", 3), stack.AllLogTails());
  std::vector<MqttMessage> on_phone = phone.MessagesOn("courier/u/bob");
  std::vector<MqttMessage> on_desktop = desktop.MessagesOn("courier/u/bob");
  REQUIRE(on_phone.size() == 3);
  REQUIRE(on_desktop.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(on_phone[i].json["seq"] == i + 1);
    CHECK(on_phone[i].json["id"] == replies[i]["id"]);
    CHECK(on_phone[i].json["body"] == json{{"i", i + 1}});
    CHECK(on_phone[i].payload == on_desktop[i].payload);
  }
  CHECK(phone.MessagesOn(bob_ios.device_topic()).empty());
  CHECK(desktop.MessagesOn(bob_desktop.device_topic()).empty());
}

TEST_CASE("push: any JSON body and any printable cmid come back byte for byte") {
  TestStack stack;
  HttpClient http(stack.http_port());
  Register(http, "alice");
  Register(http, "bob");
  Login alice = LogIn(http, "alice", "phone");
  Login bob = LogIn(http, "bob", "phone");
  MqttDevice phone(stack.mqtt());
  ConnectDevice(phone, bob, stack);

  json deep = json::object();
  for (int i = 0; i < 30; ++i) deep = json{{"d", deep}};
  const std::vector<json> bodies = {
      nullptr,
      0,
      false,
      "",
      json::array(),
      json::object(),
      -9223372036854775807LL - 1,
      18446744073709551615ULL,
      1.0000000000000002,
      -0.0,
      1e308,
      "nul \u0000 and line separator \u2028 and emoji \U0001F600",
      "quotes \" backslash \\ slash / tab \t",
      json::parse(R"({"":1,"a":{"b":[{},[],[[]]]},"\u00e9":"x"})"),
      deep,
  };
  const std::vector<std::string> cmids = {
      R"(q"uote)",          R"(back\slash)", "{brace}", "a:b:c", "*?[]", "~!@#$%^&()_+=-`|;',.<>/",
      std::string(64, '}'),
  };
  std::vector<json> replies;
  for (size_t i = 0; i < bodies.size() + cmids.size(); ++i) {
    const json& body = i < bodies.size() ? bodies[i] : json(i);
    const std::string cmid = i < bodies.size() ? "b" + std::to_string(i) : cmids[i - bodies.size()];
    replies.push_back(SendOk(http, alice, "bob", cmid, body));
  }
  const size_t n = replies.size();
  REQUIRE_MESSAGE(WaitForSeq(phone, "courier/u/bob", static_cast<int64_t>(n)), stack.AllLogTails());
  std::vector<MqttMessage> pushes = phone.MessagesOn("courier/u/bob");
  REQUIRE(pushes.size() == n);
  std::vector<json> inbox = SyncAll(http, bob);
  REQUIRE(inbox.size() == n);
  for (size_t i = 0; i < n; ++i) {
    CAPTURE(i);
    const json body = i < bodies.size() ? bodies[i] : json(i);
    const std::string cmid = i < bodies.size() ? "b" + std::to_string(i) : cmids[i - bodies.size()];
    const json& push = pushes[i].json;
    REQUIRE(push.is_object());
    CHECK(push["body"] == body);
    CHECK(push["cmid"] == cmid);
    CHECK(push["id"] == replies[i]["id"]);
    // The body is carried as the compact text it was sent as, not re-encoded on the way.
    CHECK_MESSAGE(
        pushes[i].payload.find(R"("body":)" + body.dump() + R"(,"ts":)") != std::string::npos,
        pushes[i].payload);
    CHECK(inbox[i] == push);
    // Retrying with the cmid finds it again.
    HttpResponse again = Send(http, alice, "bob", cmid, "other");
    CHECK_MESSAGE(again.status == 200, again.Describe());
    CHECK(again.json == replies[i]);
  }
}

TEST_CASE("push: both users of a conversation see its messages in one conv_seq order") {
  TestStack stack;
  HttpClient http(stack.http_port());
  Register(http, "alice");
  Register(http, "bob");
  Login alice = LogIn(http, "alice", "phone");
  Login bob = LogIn(http, "bob", "phone");
  MqttDevice alice_phone(stack.mqtt()), bob_phone(stack.mqtt());
  ConnectDevice(alice_phone, alice, stack);
  ConnectDevice(bob_phone, bob, stack);

  // Both write to each other at the same time, 15 messages each.
  std::vector<HttpResponse> from_alice, from_bob;
  auto writer = [&http](const Login* me, const std::string& to, std::vector<HttpResponse>* out) {
    for (int i = 0; i < 15; ++i) {
      out->push_back(Send(http, *me, to, me->user + std::to_string(i), json{{"i", i}}));
    }
  };
  std::thread ta(writer, &alice, "bob", &from_alice);
  std::thread tb(writer, &bob, "alice", &from_bob);
  ta.join();
  tb.join();
  std::set<int64_t> conv_seqs;
  for (const auto* replies : {&from_alice, &from_bob}) {
    for (const HttpResponse& r : *replies) {
      REQUIRE_MESSAGE(r.status == 201, r.Describe());
      CHECK(r.json["conv"] == "u:alice:bob");
      conv_seqs.insert(r.json["conv_seq"].get<int64_t>());
    }
  }
  CHECK(conv_seqs.size() == 30);
  CHECK(*conv_seqs.begin() == 1);
  CHECK(*conv_seqs.rbegin() == 30);

  // Each inbox holds all 30 (the other's message and its own copy), and in seq order their
  // conv_seq runs 1..30 in both: one order for both users.
  std::vector<int64_t> one_to_thirty(30);
  for (int i = 0; i < 30; ++i) one_to_thirty[i] = i + 1;
  for (const Login* l : {&alice, &bob}) {
    CAPTURE(l->user);
    std::vector<json> inbox = SyncAll(http, *l);
    REQUIRE(inbox.size() == 30);
    std::vector<int64_t> order;
    for (size_t i = 0; i < inbox.size(); ++i) {
      CHECK(inbox[i]["seq"] == i + 1);
      order.push_back(inbox[i]["conv_seq"].get<int64_t>());
    }
    CHECK(order == one_to_thirty);
  }
  // The pushes agree.
  for (MqttDevice* d : {&alice_phone, &bob_phone}) {
    const std::string topic = d == &alice_phone ? "courier/u/alice" : "courier/u/bob";
    REQUIRE(WaitForSeq(*d, topic, 30));
    std::vector<int64_t> order;
    for (const json& p : PushesOn(*d, topic)) order.push_back(p["conv_seq"].get<int64_t>());
    CHECK(order == one_to_thirty);
  }
  // And the history, newest first.
  HttpResponse history = http.Get("/v1/conversations/u:alice:bob/messages?limit=100", bob.token);
  REQUIRE_MESSAGE(history.status == 200, history.Describe());
  REQUIRE(history.json["items"].size() == 30);
  for (size_t i = 0; i < 30; ++i) CHECK(history.json["items"][i]["conv_seq"] == 30 - i);
  CHECK(history.json["has_more"] == false);
}

TEST_CASE("push: a one-to-one conversation id orders its two user ids bytewise") {
  TestStackOptions options;
  options.start_downlink = false;  // history and send replies only
  TestStack stack(options);
  HttpClient http(stack.http_port());
  for (const char* u : {"Zed", "alice", "alice.2", "_x", "9"}) Register(http, u);
  Login alice = LogIn(http, "alice", "phone");
  Login zed = LogIn(http, "Zed", "phone");
  const std::vector<std::tuple<const Login*, std::string, std::string>> cases = {
      {&alice, "Zed", "u:Zed:alice"},          // 'Z' 0x5A < 'a' 0x61: case is not folded
      {&alice, "alice.2", "u:alice:alice.2"},  // a prefix comes first
      {&alice, "_x", "u:_x:alice"},            // '_' 0x5F < 'a'
      {&zed, "_x", "u:Zed:_x"},                // 'Z' < '_'
      {&zed, "9", "u:9:Zed"},                  // digits before letters
  };
  int n = 0;
  for (const auto& [from, to, conv] : cases) {
    CAPTURE(conv);
    json reply = SendOk(http, *from, to, "c" + std::to_string(++n), json(n));
    CHECK(reply["conv"] == conv);
    HttpResponse history = http.Get("/v1/conversations/" + conv + "/messages", from->token);
    REQUIRE_MESSAGE(history.status == 200, history.Describe());
    REQUIRE(history.json["items"].size() == 1);
    CHECK(history.json["items"][0]["conv"] == conv);
  }
}

TEST_CASE("sync: returns exactly the pushed envelopes in seq order, and pages by after/limit") {
  TestStack stack;
  HttpClient http(stack.http_port());
  Register(http, "alice");
  Register(http, "bob");
  Login alice = LogIn(http, "alice", "phone");
  Login bob = LogIn(http, "bob", "phone");
  MqttDevice phone(stack.mqtt());
  ConnectDevice(phone, bob, stack);

  for (int i = 1; i <= 5; ++i) {
    SendOk(http, alice, "bob", "s" + std::to_string(i), json{{"text", "n" + std::to_string(i)}});
  }
  REQUIRE_MESSAGE(WaitForSeq(phone, "courier/u/bob", 5), stack.AllLogTails());
  std::vector<json> pushes = PushesOn(phone, "courier/u/bob");
  REQUIRE(pushes.size() == 5);

  HttpResponse all = Sync(http, bob, "");  // no after: from the start
  REQUIRE_MESSAGE(all.status == 200, all.Describe());
  const std::string epoch = all.json["epoch"].get<std::string>();
  REQUIRE(all.json["items"].size() == 5);
  for (size_t i = 0; i < 5; ++i) CHECK(all.json["items"][i] == pushes[i]);
  CHECK(all.json["next_after"] == 5);
  CHECK(all.json["has_more"] == false);

  struct Page {
    const char* query;
    std::vector<int64_t> seqs;
    int64_t next_after;
    bool has_more;
  };
  const Page pages[] = {
      {"?after=0&limit=2", {1, 2}, 2, true},  {"?after=2&limit=2", {3, 4}, 4, true},
      {"?after=4&limit=2", {5}, 5, false},    {"?after=3&limit=2", {4, 5}, 5, false},
      {"?after=5&limit=2", {}, 5, false},     {"?after=5", {}, 5, false},
      {"?after=100&limit=2", {}, 100, false}, {"?limit=1", {1}, 1, true},
  };
  for (const Page& p : pages) {
    CAPTURE(p.query);
    HttpResponse r = Sync(http, bob, p.query);
    REQUIRE_MESSAGE(r.status == 200, r.Describe());
    CHECK(r.json["epoch"] == epoch);
    std::vector<int64_t> seqs;
    for (const json& item : r.json["items"]) {
      seqs.push_back(item["seq"].get<int64_t>());
      CHECK(item == pushes[item["seq"].get<size_t>() - 1]);
    }
    CHECK(seqs == p.seqs);
    CHECK(r.json["next_after"] == p.next_after);
    CHECK(r.json["has_more"] == p.has_more);
  }
}

TEST_CASE("sync: a limit above the maximum is clamped to it (--sync-max-limit 5)") {
  TestStackOptions options;
  // The default page (100) must not exceed the maximum, or the uplink refuses the configuration;
  // 3 also shows the default at work.
  options.uplink_args = {"--sync-default-limit", "3", "--sync-max-limit", "5"};
  TestStack stack(options);
  HttpClient http(stack.http_port());
  Register(http, "alice");
  Register(http, "bob");
  Login alice = LogIn(http, "alice", "phone");
  Login bob = LogIn(http, "bob", "phone");
  for (int i = 1; i <= 7; ++i) SendOk(http, alice, "bob", "k" + std::to_string(i), json(i));

  struct Case {
    const char* query;
    size_t items;
    int64_t next_after;
    bool has_more;
  };
  const Case cases[] = {
      {"?after=0", 3, 3, true},          // the default page
      {"?after=0&limit=5", 5, 5, true},  // exactly the maximum
      {"?after=0&limit=6", 5, 5, true},  // clamped
      {"?after=0&limit=1000", 5, 5, true},
      {"?after=0&limit=9999999", 5, 5, true},
      {"?after=5&limit=1000", 2, 7, false},
  };
  for (const Case& c : cases) {
    CAPTURE(c.query);
    HttpResponse r = Sync(http, bob, c.query);
    REQUIRE_MESSAGE(r.status == 200, r.Describe());
    REQUIRE(r.json["items"].size() == c.items);
    for (size_t i = 0; i < c.items; ++i) {
      CHECK(r.json["items"][i]["seq"] ==
            c.next_after - static_cast<int64_t>(c.items) + 1 + static_cast<int64_t>(i));
      CHECK(r.json["items"][i]["body"] == r.json["items"][i]["seq"]);
    }
    CHECK(r.json["next_after"] == c.next_after);
    CHECK(r.json["has_more"] == c.has_more);
  }
}

}  // namespace
}  // namespace courier::testing
