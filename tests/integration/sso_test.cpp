// Single sign-on beyond what broker_acl_test covers (SPEC §3 "Single sign-on"): that test checks
// the kick itself (session.kicked on the device topic, the dropped connection, the refused
// reconnect, 401 on sync and send). Here: the replaced token gets 401 from every authenticated
// endpoint, including the ones for groups, friends, rooms, conversations, recall and signals,
// and changes nothing; and the user's device on another platform stays live and receives the
// copies of what the user sends from the new session.
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

bool IsKick(const MqttMessage& m) {
  return m.json.is_object() && m.json.value("event", "") == "session.kicked" &&
         m.json.value("reason", "") == "login_elsewhere";
}

struct Call {
  std::string method;
  std::string path;
  json body;  // for POST
};

HttpResponse Perform(const HttpClient& http, const Call& c, const std::string& token) {
  if (c.method == "GET") return http.Get(c.path, token);
  if (c.method == "DELETE") return http.Delete(c.path, token);
  return http.Post(c.path, c.body, token);
}

TEST_CASE(
    "single sign-on: the replaced session's token gets 401 from every endpoint and changes "
    "nothing") {
  TestStack stack;
  HttpClient http(stack.http_port());
  for (const char* u : {"alice", "bob", "carol"}) Register(http, u);
  Login alice = LogIn(http, "alice", "phone");
  Login carol = LogIn(http, "carol", "phone");
  Login old_login = LogIn(http, "bob", "phone", "ios");
  MqttDevice old_phone(stack.mqtt());
  ConnectDevice(old_phone, old_login, stack);

  // Things the old session could act on: its group, a pending friend request to it, a room,
  // a message of its own and one of alice's in its chat, and carol's group.
  CreateGroup(http, old_login, "bobs", {"alice"});
  CreateGroup(http, carol, "carols", {"alice"});
  HttpResponse req = http.Post("/v1/friends/requests", {{"to", "bob"}}, alice.token);
  REQUIRE_MESSAGE(req.status == 201, req.Describe());
  const std::string request_id = req.json["request_id"].get<std::string>();
  REQUIRE(http.Post("/v1/rooms/lobby/join", json::object(), old_login.token).status == 200);
  const std::string own_id = SendOk(http, old_login, "alice", "own")["id"].get<std::string>();
  const std::string alices_id = SendOk(http, alice, "bob", "alices")["id"].get<std::string>();

  // The login answers once the old session is gone; the broker drops its connection after.
  Login new_login = LogIn(http, "bob", "phone2", "ios");
  CHECK_MESSAGE(old_phone.WaitForDisconnect(5000ms), stack.AllLogTails());
  // Alice's inbox: the two groups' creation, bob's message, her own copy.
  const size_t alice_inbox_before = SyncUntilCount(http, alice, 4).size();
  REQUIRE(alice_inbox_before == 4);

  const std::vector<Call> calls = {
      {"GET", "/v1/sync?after=0", {}},
      {"POST", "/v1/acks", {{"seq", 1}}},
      {"POST", "/v1/messages", {{"to", "user:alice"}, {"cmid", "dead-1"}, {"body", "x"}}},
      {"POST", "/v1/messages", {{"to", "group:bobs"}, {"cmid", "dead-2"}, {"body", "x"}}},
      {"POST", "/v1/messages", {{"to", "room:lobby"}, {"cmid", "dead-3"}, {"body", "x"}}},
      {"GET", "/v1/conversations", {}},
      {"GET", "/v1/conversations/u:alice:bob/messages", {}},
      {"GET", "/v1/conversations/g:bobs/messages", {}},
      {"GET", "/v1/conversations/g:carols/messages", {}},
      {"GET", "/v1/conversations/r:lobby/messages", {}},
      {"POST", "/v1/conversations/u:alice:bob/read", {{"conv_seq", 2}}},
      {"POST", "/v1/conversations/g:bobs/read", {{"conv_seq", 1}}},
      {"DELETE", "/v1/messages/" + own_id, {}},
      {"DELETE", "/v1/messages/" + alices_id, {}},
      {"POST", "/v1/groups", {{"group_id", "new-one"}, {"name", "n"}, {"members", {"alice"}}}},
      {"GET", "/v1/groups/bobs", {}},
      {"POST", "/v1/groups/bobs/members", {{"user_ids", {"carol"}}}},
      {"DELETE", "/v1/groups/bobs/members/alice", {}},
      {"DELETE", "/v1/groups/bobs/members/bob", {}},
      {"POST", "/v1/friends/requests", {{"to", "carol"}}},
      {"GET", "/v1/friends/requests", {}},
      {"POST", "/v1/friends/requests/" + request_id + "/accept", json::object()},
      {"POST", "/v1/friends/requests/" + request_id + "/reject", json::object()},
      {"POST", "/v1/friends/requests/no-such-request/accept", json::object()},
      {"GET", "/v1/friends", {}},
      {"DELETE", "/v1/friends/alice", {}},
      {"POST", "/v1/blocks", {{"user_id", "alice"}}},
      {"GET", "/v1/blocks", {}},
      {"DELETE", "/v1/blocks/alice", {}},
      {"POST", "/v1/rooms/lobby/join", json::object()},
      {"POST", "/v1/rooms/lobby/leave", json::object()},
      {"GET", "/v1/presence?users=alice", {}},
      {"POST", "/v1/signals", {{"to", "user:alice"}, {"kind", "typing"}}},
      {"POST", "/v1/signals", {{"to", "group:bobs"}, {"kind", "typing"}}},
      {"DELETE", "/v1/sessions/current", {}},
  };
  for (const Call& c : calls) {
    const std::string request = c.method + " " + c.path;
    CAPTURE(request);
    HttpResponse r = Perform(http, c, old_login.token);
    CHECK_MESSAGE(r.status == 401, r.Describe());
    CHECK(r.error_code() == "unauthorized");
  }

  // Nothing happened: the group, the request, the room, the messages are as they were.
  HttpResponse group = http.Get("/v1/groups/bobs", new_login.token);
  REQUIRE_MESSAGE(group.status == 200, group.Describe());
  CHECK(group.json["members"].size() == 2);
  CHECK(http.Get("/v1/groups/new-one", alice.token).status == 404);
  HttpResponse pending = http.Get("/v1/friends/requests", new_login.token);
  REQUIRE(pending.json["items"].size() == 1);
  CHECK(pending.json["items"][0]["request_id"] == request_id);
  CHECK(http.Get("/v1/blocks", new_login.token).json["items"].empty());
  json history = http.Get("/v1/conversations/u:alice:bob/messages", alice.token).json["items"];
  REQUIRE(history.size() == 2);
  for (const json& m : history) CHECK_FALSE(m.contains("recalled"));
  CHECK(SendOk(http, alice, "bob", "after-calls")["conv_seq"] == 3);  // no dead-1 in between
  std::this_thread::sleep_for(300ms);
  std::vector<json> alice_inbox = SyncAll(http, alice);
  CHECK(alice_inbox.size() == alice_inbox_before + 1);  // her after-calls copy
  CHECK(alice_inbox.back()["cmid"] == "after-calls");
  HttpResponse room = http.Get("/v1/conversations/r:lobby/messages", new_login.token);
  CHECK_MESSAGE(room.status == 200, room.Describe());  // bob is still in the room
  CHECK(room.json["items"].empty());

  // The new session works everywhere the old one doesn't.
  CHECK(http.Get("/v1/sync", new_login.token).status == 200);
  CHECK(http.Get("/v1/conversations", new_login.token).status == 200);
}

TEST_CASE(
    "single sign-on: the user's device on another platform stays connected and gets the copies "
    "of what the new session sends") {
  TestStack stack;
  HttpClient http(stack.http_port());
  for (const char* u : {"alice", "bob"}) Register(http, u);
  Login alice = LogIn(http, "alice", "phone");
  Login old_login = LogIn(http, "bob", "phone", "ios");
  Login tablet_login = LogIn(http, "bob", "tablet", "android");
  MqttDevice old_phone(stack.mqtt()), tablet(stack.mqtt());
  ConnectDevice(old_phone, old_login, stack);
  ConnectDevice(tablet, tablet_login, stack);
  CreateGroup(http, alice, "pals", {"bob"});
  REQUIRE_MESSAGE(WaitForSeq(tablet, tablet_login.inbox(), 1), stack.AllLogTails());

  Login new_login = LogIn(http, "bob", "phone2", "ios");
  REQUIRE_MESSAGE(old_phone.WaitForDisconnect(5000ms), stack.AllLogTails());
  MqttDevice again(stack.mqtt());
  CHECK_FALSE(again.Connect(old_login.client_id(), "bob", old_login.token, std::chrono::seconds(30),
                            5000ms));

  // Bob sends from the new session, one to one and to the group: his tablet gets both copies,
  // with bob's seqs, right after the group's creation.
  json direct = SendOk(http, new_login, "alice", "from-new-phone");
  json grouped = SendToOk(http, new_login, "group:pals", "to-the-group");
  REQUIRE_MESSAGE(WaitForCmid(tablet, "from-new-phone"), stack.AllLogTails());
  REQUIRE_MESSAGE(WaitForCmid(tablet, "to-the-group"), stack.AllLogTails());
  std::vector<json> pushes = PushesOn(tablet, tablet_login.inbox());
  CHECK(EntryLabels(pushes) == "group.created, msg:from-new-phone, msg:to-the-group");
  REQUIRE(pushes.size() == 3);
  CHECK(pushes[1]["seq"] == 2);
  CHECK(pushes[1]["from"] == "bob");
  CHECK(pushes[1]["to"] == "user:alice");
  CHECK(pushes[1]["id"] == direct["id"]);
  CHECK(pushes[2]["seq"] == 3);
  CHECK(pushes[2]["from"] == "bob");
  CHECK(pushes[2]["id"] == grouped["id"]);
  CHECK(pushes == SyncAll(http, tablet_login));
  CHECK(tablet.Connected());
  CHECK(tablet.connection_losses() == 0);
  CHECK(tablet.MessagesOn(tablet_login.device_topic()).empty());
  // The kicked phone got nothing after its kick.
  for (const MqttMessage& m : old_phone.MessagesOn(old_login.inbox())) {
    CHECK(m.json.value("cmid", "") != "from-new-phone");
  }
}

TEST_CASE(
    "single sign-on: the replaced device gets session.kicked before the broker drops it, also "
    "while pushes to it are in flight") {
  TestStack stack;
  HttpClient http(stack.http_port());
  for (const char* u : {"alice", "bob"}) Register(http, u);
  Login alice = LogIn(http, "alice", "phone");
  Login old_login = LogIn(http, "bob", "phone", "ios");
  MqttDevice old_phone(stack.mqtt());
  ConnectDevice(old_phone, old_login, stack);

  // A busy device: messages keep arriving while the user logs in on another phone (broker_acl_test
  // covers an idle one).
  for (int i = 0; i < 5; ++i) SendOk(http, alice, "bob", "busy-" + std::to_string(i));
  Login new_login = LogIn(http, "bob", "phone2", "ios");
  const bool kicked = old_phone.WaitFor(IsKick, 1, 5000ms);
  CHECK(old_phone.WaitForDisconnect(5000ms));
  std::string got;
  for (const MqttMessage& m : old_phone.Messages()) got += "\n  " + m.topic + " " + m.payload;
  CHECK_MESSAGE(kicked, "no session.kicked on " << old_login.device_topic()
                                                << "; the device received:" << got << "\n"
                                                << stack.LogTail(Component::kBroker, 30));
  if (kicked) {
    std::vector<MqttMessage> control = old_phone.MessagesOn(old_login.device_topic());
    REQUIRE(control.size() == 1);
    CHECK(control[0].json["type"] == "control");
  }
  MqttDevice again(stack.mqtt());
  CHECK_FALSE(again.Connect(old_login.client_id(), "bob", old_login.token, std::chrono::seconds(30),
                            5000ms));
  CHECK(http.Get("/v1/sync", new_login.token).status == 200);
}

}  // namespace
}  // namespace courier::testing
