// Chat rooms end to end (SPEC §3, §4; docs/design.md "Rooms"): joining answers the room's topic;
// a member's device subscribed to it gets every room message with room_seq; others can't
// subscribe; after leaving nothing more arrives, even on a subscription left open; room
// messages stay out of inboxes, and the room keeps its newest 100 as history.
#include <doctest/doctest.h>

#include <chrono>
#include <nlohmann/json.hpp>
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

// POST /v1/rooms/{room}/join as `login`. REQUIREs 200; returns the answer's topic.
std::string Join(const HttpClient& http, const Login& login, const std::string& room) {
  HttpResponse r = http.Post("/v1/rooms/" + room + "/join", json::object(), login.token);
  REQUIRE_MESSAGE(r.status == 200, r.Describe());
  REQUIRE(r.json["topic"].is_string());
  return r.json["topic"].get<std::string>();
}

// The room messages `d` received on courier/r/<room>, in arrival order.
std::vector<json> RoomPushes(const MqttDevice& d, const std::string& room) {
  return PushesOn(d, "courier/r/" + room);
}

bool WaitForRoomSeq(const MqttDevice& d, const std::string& room, int64_t room_seq,
                    std::chrono::milliseconds timeout = 5000ms) {
  return d.WaitFor(
      [&](const MqttMessage& m) {
        return m.topic == "courier/r/" + room && m.json.is_object() &&
               m.json.value("room_seq", int64_t{-1}) == room_seq;
      },
      1, timeout);
}

std::vector<int64_t> RoomSeqs(const std::vector<json>& envelopes) {
  std::vector<int64_t> out;
  for (const json& e : envelopes) out.push_back(e.value("room_seq", int64_t{-1}));
  return out;
}

// Subscribes `d` to the room at QoS 1; returns the SUBACK codes.
std::vector<int> SubscribeRoom(MqttDevice& d, const std::string& room) {
  return d.Subscribe({"courier/r/" + room});
}

TEST_CASE(
    "rooms: a joined member's device gets room messages with room_seq on the room topic; others "
    "can't subscribe, send or read") {
  TestStack stack;
  HttpClient http(stack.http_port());
  auto [alice, bob, carol] = RegisterAndLogIn(http, {"alice", "bob", "carol"});

  HttpResponse joined = http.Post("/v1/rooms/lobby/join", json::object(), alice.token);
  REQUIRE_MESSAGE(joined.status == 200, joined.Describe());
  CHECK(joined.json["topic"] == "courier/r/lobby");
  CHECK(Join(http, bob, "lobby") == "courier/r/lobby");
  CHECK(Join(http, bob, "lobby") == "courier/r/lobby");  // joining twice is harmless

  MqttDevice alice_phone(stack.mqtt()), bob_phone(stack.mqtt()), carol_phone(stack.mqtt());
  ConnectDevice(alice_phone, alice, stack);
  ConnectDevice(bob_phone, bob, stack);
  ConnectDevice(carol_phone, carol, stack);
  REQUIRE_MESSAGE(SubscribeRoom(alice_phone, "lobby") == std::vector<int>{1},
                  alice_phone.last_error() << "\n"
                                           << stack.LogTail(Component::kBroker));
  REQUIRE(SubscribeRoom(bob_phone, "lobby") == std::vector<int>{1});
  CHECK(SubscribeRoom(carol_phone, "lobby") == std::vector<int>{kSubscriptionRefused});

  const json body = {{"text", "hello room"}};
  HttpResponse sent = SendTo(http, alice, "room:lobby", "r-1", body);
  REQUIRE_MESSAGE(sent.status == 201, sent.Describe());
  const json reply = sent.json;
  CHECK(reply["conv"] == "r:lobby");
  CHECK(reply["conv_seq"] == 1);
  json second = SendToOk(http, bob, "room:lobby", "r-2");
  CHECK(second["conv_seq"] == 2);

  for (MqttDevice* d : {&alice_phone, &bob_phone}) {
    CAPTURE(d->client_id());
    REQUIRE_MESSAGE(WaitForRoomSeq(*d, "lobby", 2), stack.AllLogTails());
    std::vector<json> pushes = RoomPushes(*d, "lobby");
    REQUIRE(pushes.size() == 2);
    CHECK(RoomSeqs(pushes) == std::vector<int64_t>{1, 2});
    const json& e = pushes[0];
    for (const char* key : {"type", "id", "conv", "room_seq", "from", "kind", "body", "ts"}) {
      CHECK_MESSAGE(e.contains(key), key << " missing: " << e.dump());
    }
    CHECK_FALSE(e.contains("seq"));  // room messages are not inbox entries
    CHECK(e["type"] == "message");
    CHECK(e["id"] == reply["id"]);
    CHECK(e["conv"] == "r:lobby");
    CHECK(e["room_seq"] == reply["conv_seq"]);
    CHECK(e["from"] == "alice");
    CHECK(e["kind"] == "text");
    CHECK(e["body"] == body);
    CHECK(e["ts"] == reply["ts"]);
    CHECK(pushes[1]["id"] == second["id"]);
    CHECK(pushes[1]["from"] == "bob");
  }
  std::this_thread::sleep_for(200ms);
  CHECK(carol_phone.MessagesOn("courier/r/lobby").empty());

  // Room messages are not in anyone's inbox.
  CHECK(SyncAll(http, alice).empty());
  CHECK(SyncAll(http, bob).empty());
  CHECK(SyncAll(http, carol).empty());
  CHECK(alice_phone.MessagesOn(alice.inbox()).empty());

  // Not a member: no sending, no history.
  HttpResponse r = SendTo(http, carol, "room:lobby", "c-1", json{{"text", "let me in"}});
  CHECK_MESSAGE(r.status == 403, r.Describe());
  CHECK(r.error_code() == "not_member");
  r = http.Get("/v1/conversations/r:lobby/messages", carol.token);
  CHECK_MESSAGE(r.status == 403, r.Describe());
  CHECK(r.error_code() == "not_member");
  // Members read it, newest first.
  r = http.Get("/v1/conversations/r:lobby/messages", bob.token);
  REQUIRE_MESSAGE(r.status == 200, r.Describe());
  REQUIRE(r.json["items"].size() == 2);
  CHECK(r.json["items"][0]["id"] == second["id"]);
  CHECK(r.json["items"][1]["id"] == reply["id"]);
}

TEST_CASE(
    "rooms: after leaving, nothing more of the room reaches the user although the subscription "
    "stays open") {
  TestStack stack;
  HttpClient http(stack.http_port());
  auto [alice, bob] = RegisterAndLogIn(http, {"alice", "bob"});
  Join(http, alice, "lobby");
  Join(http, bob, "lobby");
  Join(http, bob, "games");
  MqttDevice alice_phone(stack.mqtt()), bob_phone(stack.mqtt());
  ConnectDevice(alice_phone, alice, stack);
  ConnectDevice(bob_phone, bob, stack);
  REQUIRE_MESSAGE(SubscribeRoom(alice_phone, "lobby") == std::vector<int>{1},
                  stack.LogTail(Component::kBroker));
  REQUIRE(bob_phone.Subscribe({"courier/r/lobby", "courier/r/games"}) == std::vector<int>{1, 1});

  SendToOk(http, alice, "room:lobby", "before");
  REQUIRE_MESSAGE(WaitForRoomSeq(bob_phone, "lobby", 1), stack.AllLogTails());

  HttpResponse left = http.Post("/v1/rooms/lobby/leave", json::object(), bob.token);
  REQUIRE_MESSAGE(left.status == 204, left.Describe());
  SendToOk(http, alice, "room:lobby", "after-1");
  SendToOk(http, alice, "room:lobby", "after-2");
  REQUIRE_MESSAGE(WaitForRoomSeq(alice_phone, "lobby", 3), stack.AllLogTails());
  // The other room goes on for bob.
  Join(http, alice, "games");
  SendToOk(http, alice, "room:games", "games-1");
  REQUIRE_MESSAGE(WaitForRoomSeq(bob_phone, "games", 1), stack.AllLogTails());
  std::this_thread::sleep_for(300ms);
  CHECK(RoomSeqs(RoomPushes(bob_phone, "lobby")) == std::vector<int64_t>{1});
  CHECK(RoomSeqs(RoomPushes(alice_phone, "lobby")) == std::vector<int64_t>{1, 2, 3});
  CHECK(bob_phone.Connected());
  CHECK(bob_phone.connection_losses() == 0);

  // Bob is out: no sending, no new subscription; after joining again, the room is back.
  HttpResponse r = SendTo(http, bob, "room:lobby", "b-1", json{{"text", "?"}});
  CHECK_MESSAGE(r.status == 403, r.Describe());
  CHECK(r.error_code() == "not_member");
  CHECK(SubscribeRoom(bob_phone, "lobby") == std::vector<int>{kSubscriptionRefused});
  Join(http, bob, "lobby");
  CHECK(SubscribeRoom(bob_phone, "lobby") == std::vector<int>{1});
  SendToOk(http, alice, "room:lobby", "after-rejoin");
  REQUIRE_MESSAGE(WaitForRoomSeq(bob_phone, "lobby", 4), stack.AllLogTails());
  CHECK(RoomSeqs(RoomPushes(bob_phone, "lobby")) == std::vector<int64_t>{1, 4});
}

TEST_CASE("rooms: the history keeps the newest 100 messages, newest first") {
  TestStack stack;
  HttpClient http(stack.http_port());
  auto [alice, bob, carol] = RegisterAndLogIn(http, {"alice", "bob", "carol"});
  Join(http, alice, "lobby");
  Join(http, bob, "lobby");

  // Two senders take turns, each well within the send burst.
  std::vector<json> replies;
  for (int i = 1; i <= 105; ++i) {
    replies.push_back(
        SendToOk(http, i % 2 == 0 ? bob : alice, "room:lobby", "h-" + std::to_string(i)));
    REQUIRE(replies.back()["conv_seq"] == i);
  }

  HttpResponse r = http.Get("/v1/conversations/r:lobby/messages?limit=1000", alice.token);
  REQUIRE_MESSAGE(r.status == 200, r.Describe());
  const json& items = r.json["items"];
  REQUIRE(items.size() == 100);
  CHECK(r.json["has_more"] == false);
  for (size_t k = 0; k < items.size(); ++k) {
    CAPTURE(k);
    const int64_t room_seq = 105 - static_cast<int64_t>(k);
    CHECK(items[k]["room_seq"] == room_seq);
    CHECK(items[k]["id"] == replies[room_seq - 1]["id"]);
    CHECK(items[k]["body"] == json{{"text", "h-" + std::to_string(room_seq)}});
  }
  // Paging back from the newest.
  r = http.Get("/v1/conversations/r:lobby/messages?limit=10", bob.token);
  REQUIRE_MESSAGE(r.status == 200, r.Describe());
  CHECK(RoomSeqs(r.json["items"].get<std::vector<json>>()) ==
        std::vector<int64_t>{105, 104, 103, 102, 101, 100, 99, 98, 97, 96});
  CHECK(r.json["has_more"] == true);
  r = http.Get("/v1/conversations/r:lobby/messages?before=10&limit=10", bob.token);
  REQUIRE_MESSAGE(r.status == 200, r.Describe());
  CHECK(RoomSeqs(r.json["items"].get<std::vector<json>>()) == std::vector<int64_t>{9, 8, 7, 6});
  CHECK(r.json["has_more"] == false);

  // None of it is in an inbox; outsiders can't read it.
  CHECK(SyncAll(http, alice).empty());
  CHECK(SyncAll(http, bob).empty());
  CHECK(http.Get("/v1/conversations/r:lobby/messages", carol.token).status == 403);
}

}  // namespace
}  // namespace courier::testing
