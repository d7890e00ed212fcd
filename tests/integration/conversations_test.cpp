// The conversation list, unread counts, read receipts, recall and signals end to end (SPEC §3,
// §4): GET /v1/conversations orders by newest activity with the last envelope and an unread
// count; POST .../read moves it and sends receipt.read to the other members; a sender recalls a
// message within the window and every member hears of it; signals are pushed once and never
// stored.
#include <doctest/doctest.h>

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

// GET /v1/conversations of `login`. REQUIREs 200; returns the items.
json Conversations(const HttpClient& http, const Login& login) {
  HttpResponse r = http.Get("/v1/conversations", login.token);
  REQUIRE_MESSAGE(r.status == 200, r.Describe());
  REQUIRE(r.json["items"].is_array());
  return r.json["items"];
}

// The convs of a conversation list, in its order.
std::vector<std::string> ConvOrder(const json& items) {
  std::vector<std::string> out;
  for (const json& c : items) out.push_back(c["conv"].get<std::string>());
  return out;
}

// The list entry of `conv`; null if absent.
json Entry(const json& items, const std::string& conv) {
  for (const json& c : items) {
    if (c["conv"] == conv) return c;
  }
  return nullptr;
}

HttpResponse MarkRead(const HttpClient& http, const Login& login, const std::string& conv,
                      int64_t conv_seq) {
  return http.Post("/v1/conversations/" + conv + "/read", {{"conv_seq", conv_seq}}, login.token);
}

// The inbox entry carrying message `id`; null if absent.
json InboxEntryOf(const std::vector<json>& inbox, const json& id) {
  for (const json& e : inbox) {
    if (e.value("type", "") == "message" && e["id"] == id) return e;
  }
  return nullptr;
}

// GET /v1/conversations/{conv}/messages as `login`. REQUIREs 200; returns the items.
json History(const HttpClient& http, const Login& login, const std::string& conv) {
  HttpResponse r = http.Get("/v1/conversations/" + conv + "/messages", login.token);
  REQUIRE_MESSAGE(r.status == 200, r.Describe());
  return r.json["items"];
}

bool IsSignal(const MqttMessage& m) {
  return m.json.is_object() && m.json.value("type", "") == "signal";
}

std::vector<json> SignalsOn(const MqttDevice& d) {
  std::vector<json> out;
  for (const MqttMessage& m : d.Messages()) {
    if (IsSignal(m)) out.push_back(m.json);
  }
  return out;
}

TEST_CASE(
    "conversations: listed newest activity first with the last envelope and unread counts; own "
    "sends are not unread") {
  TestStack stack;
  HttpClient http(stack.http_port());
  for (const char* u : {"alice", "bob", "carol", "dave"}) Register(http, u);
  Login alice = LogIn(http, "alice", "phone");
  Login bob = LogIn(http, "bob", "phone");
  Login carol = LogIn(http, "carol", "phone");
  CHECK(Conversations(http, alice).empty());

  SendOk(http, bob, "alice", "b1");
  SendOk(http, bob, "alice", "b2");
  SendOk(http, carol, "alice", "c1");
  CreateGroup(http, bob, "trio", {"alice", "carol"});
  json g1 = SendToOk(http, bob, "group:trio", "g1");
  std::vector<json> inbox = SyncUntil(http, alice, [&](const std::vector<json>& it) {
    return !InboxEntryOf(it, g1["id"]).is_null();
  });
  REQUIRE(!InboxEntryOf(inbox, g1["id"]).is_null());

  json list = Conversations(http, alice);
  CHECK(ConvOrder(list) == std::vector<std::string>{"g:trio", "u:alice:carol", "u:alice:bob"});
  for (const json& c : list) CHECK(Keys(c) == std::set<std::string>{"conv", "last", "unread"});
  CHECK(Entry(list, "g:trio")["unread"] == 1);
  CHECK(Entry(list, "u:alice:carol")["unread"] == 1);
  CHECK(Entry(list, "u:alice:bob")["unread"] == 2);
  // `last` is the newest message's envelope, as in the inbox.
  CHECK(Entry(list, "g:trio")["last"] == InboxEntryOf(inbox, g1["id"]));
  CHECK(Entry(list, "u:alice:bob")["last"]["cmid"] == "b2");
  CHECK(Entry(list, "u:alice:bob")["last"] == inbox[1]);

  // Alice's own sends: to a new conversation (nothing unread), and to bob, which reads what came
  // before and moves bob's conversation to the top.
  SendOk(http, alice, "dave", "a-d");
  list = Conversations(http, alice);
  CHECK(ConvOrder(list).front() == "u:alice:dave");
  CHECK(Entry(list, "u:alice:dave")["unread"] == 0);
  SendOk(http, alice, "bob", "a-b");
  list = Conversations(http, alice);
  CHECK(ConvOrder(list) ==
        std::vector<std::string>{"u:alice:bob", "u:alice:dave", "g:trio", "u:alice:carol"});
  CHECK(Entry(list, "u:alice:bob")["unread"] == 0);
  CHECK(Entry(list, "u:alice:bob")["last"]["cmid"] == "a-b");
  // Bob's view of the same conversation: one unread (alice's), his own two are read.
  SyncUntil(http, bob,
            [&](const std::vector<json>& it) { return !InboxEntryOf(it, g1["id"]).is_null(); });
  json bob_list = Conversations(http, bob);
  CHECK(Entry(bob_list, "u:alice:bob")["unread"] == 1);
  CHECK(Entry(bob_list, "g:trio")["unread"] == 0);  // he sent it

  // Reading: unread drops to 0.
  HttpResponse read = MarkRead(http, alice, "u:alice:carol", 1);
  CHECK_MESSAGE(read.status == 204, read.Describe());
  read = MarkRead(http, alice, "g:trio", 1);
  CHECK_MESSAGE(read.status == 204, read.Describe());
  list = Conversations(http, alice);
  for (const json& c : list) CHECK_MESSAGE(c["unread"] == 0, c.dump());
  // A new message is unread again; reading past the newest reads up to the newest.
  SendOk(http, carol, "alice", "c2");
  SendOk(http, carol, "alice", "c3");
  CHECK(Entry(Conversations(http, alice), "u:alice:carol")["unread"] == 2);
  REQUIRE(MarkRead(http, alice, "u:alice:carol", 99).status == 204);
  CHECK(Entry(Conversations(http, alice), "u:alice:carol")["unread"] == 0);
}

TEST_CASE(
    "read receipts: the other user of a chat, and the other members of a group, get receipt.read") {
  TestStack stack;
  HttpClient http(stack.http_port());
  auto [alice, bob, carol, dave] = RegisterAndLogIn(http, {"alice", "bob", "carol", "dave"});
  MqttDevice bob_phone(stack.mqtt());
  ConnectDevice(bob_phone, bob, stack);

  // One to one: bob learns that alice read up to conv_seq 2.
  SendOk(http, bob, "alice", "b1");
  SendOk(http, bob, "alice", "b2");
  SendOk(http, bob, "alice", "b3");
  REQUIRE(MarkRead(http, alice, "u:alice:bob", 2).status == 204);
  REQUIRE_MESSAGE(WaitForSeq(bob_phone, bob.inbox(), 4), stack.AllLogTails());
  std::vector<json> bob_inbox = SyncAll(http, bob);
  REQUIRE(bob_inbox.size() == 4);
  const json receipt = bob_inbox[3];
  CHECK(receipt["type"] == "notification");
  CHECK(receipt["event"] == "receipt.read");
  CHECK(receipt["data"] == json{{"conv", "u:alice:bob"}, {"user_id", "alice"}, {"conv_seq", 2}});
  CHECK(PushesOn(bob_phone, bob.inbox())[3] == receipt);
  CHECK(EventsOf(SyncAll(http, alice), "receipt.read").empty());  // not to the reader
  // Reading what was read already moves nothing and tells nobody; reading on does.
  REQUIRE(MarkRead(http, alice, "u:alice:bob", 1).status == 204);
  REQUIRE(MarkRead(http, alice, "u:alice:bob", 2).status == 204);
  REQUIRE(MarkRead(http, alice, "u:alice:bob", 3).status == 204);
  REQUIRE(WaitForSeq(bob_phone, bob.inbox(), 5));
  bob_inbox = SyncAll(http, bob);
  REQUIRE(EventsOf(bob_inbox, "receipt.read").size() == 2);
  CHECK(bob_inbox.back()["data"]["conv_seq"] == 3);

  // A group: every other member gets it, through the group's feed; the reader doesn't.
  CreateGroup(http, bob, "trio", {"alice", "carol"});
  json g1 = SendToOk(http, bob, "group:trio", "g1");
  SyncUntil(http, alice,
            [&](const std::vector<json>& it) { return !InboxEntryOf(it, g1["id"]).is_null(); });
  REQUIRE(MarkRead(http, alice, "g:trio", 1).status == 204);
  for (const Login* who : {&bob, &carol}) {
    CAPTURE(who->user);
    std::vector<json> got = SyncUntil(http, *who, [](const std::vector<json>& it) {
      for (const json& e : EventsOf(it, "receipt.read")) {
        if (e["data"]["conv"] == "g:trio") return true;
      }
      return false;
    });
    std::vector<json> receipts;
    for (const json& e : EventsOf(got, "receipt.read")) {
      if (e["data"]["conv"] == "g:trio") receipts.push_back(e);
    }
    REQUIRE(receipts.size() == 1);
    CHECK(receipts[0]["data"] == json{{"conv", "g:trio"}, {"user_id", "alice"}, {"conv_seq", 1}});
    CHECK(SeqsAreContiguousFromOne(got));
  }
  std::this_thread::sleep_for(200ms);
  CHECK(EventsOf(SyncAll(http, alice), "receipt.read").empty());

  // Who may mark what.
  HttpResponse r = MarkRead(http, dave, "g:trio", 1);
  CHECK_MESSAGE(r.status == 403, r.Describe());
  CHECK(r.error_code() == "not_member");
  r = MarkRead(http, dave, "u:alice:bob", 1);
  CHECK_MESSAGE(r.status == 403, r.Describe());
  CHECK(MarkRead(http, alice, "g:nope", 1).status == 404);
  CHECK(MarkRead(http, alice, "x:alice", 1).status == 400);
  CHECK(MarkRead(http, alice, "r:lobby", 1).status == 400);
  CHECK(http.Post("/v1/conversations/u:alice:bob/read", json::object(), alice.token).status == 400);
  CHECK(MarkRead(http, alice, "u:alice:bob", -1).status == 400);
}

TEST_CASE(
    "conversations: a member added to a group with history counts as unread only the messages "
    "they received") {
  TestStack stack;
  HttpClient http(stack.http_port());
  for (const char* u : {"alice", "bob", "carol"}) Register(http, u);
  Login alice = LogIn(http, "alice", "phone");
  Login bob = LogIn(http, "bob", "phone");
  CreateGroup(http, bob, "old", {"carol"});
  for (int i = 1; i <= 5; ++i) SendToOk(http, bob, "group:old", "before-" + std::to_string(i));
  REQUIRE(AddMembers(http, bob, "old", {"alice"}).status == 200);
  json after = SendToOk(http, bob, "group:old", "after");
  std::vector<json> inbox = SyncUntil(http, alice, [&](const std::vector<json>& it) {
    return !InboxEntryOf(it, after["id"]).is_null();
  });
  // Alice's inbox holds one message of the group (conv_seq 6); that one is all she has unread.
  REQUIRE(EntryLabels(inbox) == "group.member_added, msg:after");
  CHECK(inbox[1]["conv_seq"] == 6);
  json entry = Entry(Conversations(http, alice), "g:old");
  REQUIRE(entry.is_object());
  CHECK_MESSAGE(entry["unread"] == 1,
                "unread counts messages sent before alice joined: " << entry.dump());
}

TEST_CASE(
    "recall: the sender recalls within the window; both users get message.recalled and the "
    "history shows it recalled") {
  TestStack stack;
  HttpClient http(stack.http_port());
  auto [alice, bob, carol] = RegisterAndLogIn(http, {"alice", "bob", "carol"});
  MqttDevice bob_phone(stack.mqtt());
  ConnectDevice(bob_phone, bob, stack);

  json m1 = SendOk(http, alice, "bob", "m1", json{{"text", "oops, wrong chat"}});
  json m2 = SendOk(http, alice, "bob", "m2");
  json b1 = SendOk(http, bob, "alice", "b1");

  // Not the sender: 403; no such message: 404.
  HttpResponse r = http.Delete("/v1/messages/" + m1["id"].get<std::string>(), bob.token);
  CHECK_MESSAGE(r.status == 403, r.Describe());
  CHECK(r.error_code() == "forbidden");
  r = http.Delete("/v1/messages/" + b1["id"].get<std::string>(), alice.token);
  CHECK_MESSAGE(r.status == 403, r.Describe());
  r = http.Delete("/v1/messages/no-such-message", alice.token);
  CHECK_MESSAGE(r.status == 404, r.Describe());
  CHECK(r.error_code() == "not_found");

  r = http.Delete("/v1/messages/" + m1["id"].get<std::string>(), alice.token);
  REQUIRE_MESSAGE(r.status == 204, r.Describe());
  const json expected_data = {
      {"id", m1["id"]}, {"conv", "u:alice:bob"}, {"conv_seq", 1}, {"by", "alice"}};
  REQUIRE_MESSAGE(WaitForSeq(bob_phone, bob.inbox(), 4), stack.AllLogTails());
  std::vector<json> bob_inbox = SyncAll(http, bob);
  CHECK(EntryLabels(bob_inbox) == "msg:m1, msg:m2, msg:b1, message.recalled");
  REQUIRE(bob_inbox.size() == 4);
  CHECK(bob_inbox[3]["data"] == expected_data);
  CHECK(PushesOn(bob_phone, bob.inbox()).back() == bob_inbox[3]);
  std::vector<json> alice_inbox = SyncAll(http, alice);
  REQUIRE(EventsOf(alice_inbox, "message.recalled").size() == 1);
  CHECK(alice_inbox.back()["data"] == expected_data);

  // The history keeps its place, without the body.
  json history = History(http, bob, "u:alice:bob");
  REQUIRE(history.size() == 3);
  CHECK(history[0]["id"] == b1["id"]);
  CHECK(history[1]["id"] == m2["id"]);
  CHECK(history[1]["body"] == json{{"text", "m2"}});
  CHECK_FALSE(history[1].contains("recalled"));
  const json& recalled = history[2];
  CHECK(recalled["id"] == m1["id"]);
  CHECK(recalled["conv_seq"] == 1);
  CHECK(recalled["from"] == "alice");
  CHECK(recalled["recalled"] == true);
  CHECK(recalled.contains("body"));
  CHECK(recalled["body"].is_null());
  CHECK(History(http, alice, "u:alice:bob") == history);

  // Recalling it again tells nobody again.
  r = http.Delete("/v1/messages/" + m1["id"].get<std::string>(), alice.token);
  CHECK_MESSAGE((r.status == 204 || r.status == 404), r.Describe());
  json sentinel = SendOk(http, alice, "bob", "sentinel");
  REQUIRE(WaitForCmid(bob_phone, "sentinel"));
  CHECK(EventsOf(SyncAll(http, bob), "message.recalled").size() == 1);

  // A recalled message that is a conversation's newest shows as recalled in the list too.
  r = http.Delete("/v1/messages/" + sentinel["id"].get<std::string>(), alice.token);
  REQUIRE_MESSAGE(r.status == 204, r.Describe());
  for (const Login* who : {&alice, &bob}) {
    CAPTURE(who->user);
    json last = Entry(Conversations(http, *who), "u:alice:bob")["last"];
    CHECK(last["id"] == sentinel["id"]);
    CHECK(last["recalled"] == true);
    CHECK(last["body"].is_null());
  }

  // In a group every member hears of it, through the feed.
  CreateGroup(http, alice, "trio", {"bob", "carol"});
  json g1 = SendToOk(http, alice, "group:trio", "g1");
  r = http.Delete("/v1/messages/" + g1["id"].get<std::string>(), carol.token);
  CHECK_MESSAGE(r.status == 403, r.Describe());
  r = http.Delete("/v1/messages/" + g1["id"].get<std::string>(), alice.token);
  REQUIRE_MESSAGE(r.status == 204, r.Describe());
  for (const Login* who : {&alice, &bob, &carol}) {
    CAPTURE(who->user);
    std::vector<json> got = SyncUntil(http, *who, [](const std::vector<json>& it) {
      for (const json& e : EventsOf(it, "message.recalled")) {
        if (e["data"]["conv"] == "g:trio") return true;
      }
      return false;
    });
    std::vector<json> notices = EventsOf(got, "message.recalled");
    REQUIRE(!notices.empty());
    CHECK(notices.back()["data"] ==
          json{{"id", g1["id"]}, {"conv", "g:trio"}, {"conv_seq", 1}, {"by", "alice"}});
  }
  json group_history = History(http, carol, "g:trio");
  REQUIRE(group_history.size() == 1);
  CHECK(group_history[0]["recalled"] == true);
  CHECK(group_history[0]["body"].is_null());
}

TEST_CASE("recall: after the window (--recall-window-s 1) the sender's recall is 403") {
  TestStackOptions options;
  options.uplink_args = {"--recall-window-s", "1"};
  TestStack stack(options);
  HttpClient http(stack.http_port());
  auto [alice, bob] = RegisterAndLogIn(http, {"alice", "bob"});

  json old_one = SendOk(http, alice, "bob", "old");
  std::this_thread::sleep_for(1500ms);
  json new_one = SendOk(http, alice, "bob", "new");
  HttpResponse r = http.Delete("/v1/messages/" + old_one["id"].get<std::string>(), alice.token);
  CHECK_MESSAGE(r.status == 403, r.Describe());
  CHECK(r.error_code() == "forbidden");
  r = http.Delete("/v1/messages/" + new_one["id"].get<std::string>(), alice.token);
  CHECK_MESSAGE(r.status == 204, r.Describe());
  json history = History(http, bob, "u:alice:bob");
  REQUIRE(history.size() == 2);
  CHECK(history[0]["recalled"] == true);
  CHECK_FALSE(history[1].contains("recalled"));
  CHECK(history[1]["body"] == json{{"text", "old"}});
  CHECK(EventsOf(SyncAll(http, bob), "message.recalled").size() == 1);
}

TEST_CASE(
    "signals: typing is pushed once to the other user, or to every other group member, without "
    "a seq, and never stored") {
  TestStack stack;
  HttpClient http(stack.http_port());
  auto [alice, bob, carol, dave] = RegisterAndLogIn(http, {"alice", "bob", "carol", "dave"});
  MqttDevice alice_phone(stack.mqtt()), bob_phone(stack.mqtt()), carol_phone(stack.mqtt());
  ConnectDevice(alice_phone, alice, stack);
  ConnectDevice(bob_phone, bob, stack);
  ConnectDevice(carol_phone, carol, stack);

  const int64_t before_ms = WallMs();
  HttpResponse r = http.Post("/v1/signals", {{"to", "user:bob"}, {"kind", "typing"}}, alice.token);
  REQUIRE_MESSAGE(r.status == 202, r.Describe());
  REQUIRE_MESSAGE(bob_phone.WaitFor(IsSignal), stack.AllLogTails());
  // A message after it: once that is here, a duplicate signal would be too.
  SendOk(http, alice, "bob", "after-typing");
  REQUIRE(WaitForCmid(bob_phone, "after-typing"));
  std::vector<json> signals = SignalsOn(bob_phone);
  REQUIRE(signals.size() == 1);
  const json& s = signals[0];
  CHECK(s == json{{"type", "signal"},
                  {"kind", "typing"},
                  {"from", "alice"},
                  {"conv", "u:alice:bob"},
                  {"ts", s["ts"]}});
  CHECK_FALSE(s.contains("seq"));
  CHECK(s["ts"].get<int64_t>() >= before_ms);
  CHECK(IsSignal(bob_phone.MessagesOn(bob.inbox()).at(0)));  // on the inbox topic
  // Not stored: the message after it is seq 1, and the inbox holds only that.
  std::vector<json> bob_inbox = SyncAll(http, bob);
  CHECK(EntryLabels(bob_inbox) == "msg:after-typing");
  CHECK(bob_inbox[0]["seq"] == 1);
  CHECK(SignalsOn(alice_phone).empty());

  // To a group: every other member once, the sender not.
  CreateGroup(http, alice, "trio", {"bob", "carol"});
  r = http.Post("/v1/signals", {{"to", "group:trio"}, {"kind", "typing"}}, alice.token);
  REQUIRE_MESSAGE(r.status == 202, r.Describe());
  SendToOk(http, alice, "group:trio", "after-group-typing");
  for (MqttDevice* d : {&bob_phone, &carol_phone}) {
    CAPTURE(d->client_id());
    REQUIRE_MESSAGE(WaitForCmid(*d, "after-group-typing"), stack.AllLogTails());
    std::vector<json> got;
    for (const json& sig : SignalsOn(*d)) {
      if (sig["conv"] == "g:trio") got.push_back(sig);
    }
    REQUIRE(got.size() == 1);
    CHECK(got[0]["from"] == "alice");
    CHECK(got[0]["kind"] == "typing");
    CHECK_FALSE(got[0].contains("seq"));
  }
  REQUIRE(WaitForCmid(alice_phone, "after-group-typing"));
  CHECK(SignalsOn(alice_phone).empty());
  for (const Login* who : {&bob, &carol}) {
    for (const json& e : SyncAll(http, *who)) CHECK(e["type"] != "signal");
  }

  // What a client may not signal, or to whom.
  r = http.Post("/v1/signals", {{"to", "user:bob"}, {"kind", "presence"}}, alice.token);
  CHECK_MESSAGE(r.status == 400, r.Describe());
  CHECK(r.error_code() == "invalid_field");
  CHECK(http.Post("/v1/signals", {{"to", "user:bob"}, {"kind", "Typing!"}}, alice.token).status ==
        400);
  CHECK(http.Post("/v1/signals", {{"to", "room:lobby"}, {"kind", "typing"}}, alice.token).status ==
        400);
  CHECK(http.Post("/v1/signals", {{"to", "user:nobody"}, {"kind", "typing"}}, alice.token).status ==
        404);
  CHECK(http.Post("/v1/signals", {{"to", "group:nope"}, {"kind", "typing"}}, alice.token).status ==
        404);
  r = http.Post("/v1/signals", {{"to", "group:trio"}, {"kind", "typing"}}, dave.token);
  CHECK_MESSAGE(r.status == 403, r.Describe());
  CHECK(r.error_code() == "not_member");
}

TEST_CASE("signals: a flood of signals is rate-limited with the sends (--send-burst 5)") {
  TestStackOptions options;
  options.uplink_args = {"--send-burst", "5", "--send-rate", "1"};
  TestStack stack(options);
  HttpClient http(stack.http_port());
  for (const char* u : {"alice", "bob"}) Register(http, u);
  Login alice = LogIn(http, "alice", "phone");
  LogIn(http, "bob", "phone");

  SendOk(http, alice, "bob", "one-message");
  int accepted = 1;
  HttpResponse r;
  for (int i = 0; i < 10; ++i) {
    r = http.Post("/v1/signals", {{"to", "user:bob"}, {"kind", "typing"}}, alice.token);
    if (r.status != 202) break;
    ++accepted;
  }
  CHECK_MESSAGE(r.status == 429, r.Describe());
  CHECK(r.error_code() == "rate_limited");
  CHECK_FALSE(r.header("Retry-After").empty());
  CHECK(accepted >= 5);
  CHECK(accepted <= 6);  // the burst, and at most one token refilled meanwhile
  CHECK(Send(http, alice, "bob", "over-budget").status == 429);
}

}  // namespace
}  // namespace courier::testing
