// Friends and blocks end to end (SPEC §3, §4): a friend request reaches its target as a
// friend.request notification, pushed and in the inbox; only the target answers it, and the
// requester learns the answer the same way; friendships end on both sides; a blocked user can't
// message, befriend or signal the blocker; the `friends` messaging policy.
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

const std::set<std::string> kNotificationKeys = {"seq", "epoch", "type", "event", "data", "ts"};

HttpResponse RequestFriend(const HttpClient& http, const Login& from, const std::string& to,
                           const std::string& note = "") {
  json body = {{"to", to}};
  if (!note.empty()) body["note"] = note;
  return http.Post("/v1/friends/requests", body, from.token);
}

HttpResponse Answer(const HttpClient& http, const Login& by, const std::string& request_id,
                    const std::string& verb) {
  return http.Post("/v1/friends/requests/" + request_id + "/" + verb, json::object(), by.token);
}

// The user ids in GET /v1/friends of `login`. REQUIREs 200.
std::vector<std::string> FriendIds(const HttpClient& http, const Login& login) {
  HttpResponse r = http.Get("/v1/friends", login.token);
  REQUIRE_MESSAGE(r.status == 200, r.Describe());
  std::vector<std::string> out;
  for (const json& f : r.json["items"]) out.push_back(f["user_id"].get<std::string>());
  return out;
}

// GET /v1/friends/requests of `login`. REQUIREs 200; returns the items.
json PendingRequests(const HttpClient& http, const Login& login) {
  HttpResponse r = http.Get("/v1/friends/requests", login.token);
  REQUIRE_MESSAGE(r.status == 200, r.Describe());
  return r.json["items"];
}

bool IsEvent(const MqttMessage& m, const std::string& event) {
  return m.json.is_object() && m.json.value("event", "") == event;
}

TEST_CASE(
    "friends: a request reaches its target pushed and by sync; only the target accepts, and then "
    "both are friends") {
  TestStack stack;
  HttpClient http(stack.http_port());
  auto [alice, bob, carol] = RegisterAndLogIn(http, {"alice", "bob", "carol"});
  MqttDevice alice_phone(stack.mqtt()), bob_phone(stack.mqtt());
  ConnectDevice(alice_phone, alice, stack);
  ConnectDevice(bob_phone, bob, stack);

  const int64_t before_ms = WallMs();
  HttpResponse req = RequestFriend(http, alice, "bob", "it's alice from work");
  const int64_t after_ms = WallMs();
  REQUIRE_MESSAGE(req.status == 201, req.Describe());
  CHECK(Keys(req.json) == std::set<std::string>{"request_id"});
  const std::string request_id = req.json["request_id"].get<std::string>();
  CHECK_FALSE(request_id.empty());

  // Pushed to bob with a seq, and the same envelope in his inbox.
  REQUIRE_MESSAGE(WaitForSeq(bob_phone, bob.inbox(), 1), stack.AllLogTails());
  std::vector<json> pushes = PushesOn(bob_phone, bob.inbox());
  REQUIRE(pushes.size() == 1);
  const json notice = pushes[0];
  CHECK(Keys(notice) == kNotificationKeys);
  CHECK(notice["type"] == "notification");
  CHECK(notice["event"] == "friend.request");
  CHECK(notice["data"] ==
        json{{"request_id", request_id}, {"from", "alice"}, {"note", "it's alice from work"}});
  CHECK(notice["ts"].get<int64_t>() >= before_ms);
  CHECK(notice["ts"].get<int64_t>() <= after_ms);
  CHECK(SyncAll(http, bob) == pushes);

  // Pending: listed for the target, not for the requester.
  json pending = PendingRequests(http, bob);
  REQUIRE(pending.size() == 1);
  CHECK(pending[0]["request_id"] == request_id);
  CHECK(pending[0]["from"] == "alice");
  CHECK(pending[0]["note"] == "it's alice from work");
  CHECK(pending[0]["ts"] == notice["ts"]);
  CHECK(PendingRequests(http, alice).empty());

  // Asking again while it is pending gives the same request and tells bob nothing new.
  HttpResponse again = RequestFriend(http, alice, "bob", "hello?");
  REQUIRE_MESSAGE(again.ok(), again.Describe());
  CHECK(again.json["request_id"] == request_id);
  CHECK(PendingRequests(http, bob).size() == 1);

  // Only the target may answer: the requester and a stranger get 404.
  for (const Login* who : {&alice, &carol}) {
    CAPTURE(who->user);
    HttpResponse r = Answer(http, *who, request_id, "accept");
    CHECK_MESSAGE(r.status == 404, r.Describe());
    CHECK(r.error_code() == "not_found");
    CHECK(Answer(http, *who, request_id, "reject").status == 404);
  }
  CHECK(Answer(http, bob, "no-such-request", "accept").status == 404);
  CHECK(FriendIds(http, alice).empty());

  HttpResponse accepted = Answer(http, bob, request_id, "accept");
  REQUIRE_MESSAGE(accepted.status == 204, accepted.Describe());
  CHECK(accepted.body.empty());
  REQUIRE_MESSAGE(
      alice_phone.WaitFor([](const MqttMessage& m) { return IsEvent(m, "friend.accepted"); }),
      stack.AllLogTails());
  std::vector<json> alice_inbox = SyncAll(http, alice);
  REQUIRE(alice_inbox.size() == 1);
  CHECK(alice_inbox[0]["seq"] == 1);
  CHECK(alice_inbox[0]["event"] == "friend.accepted");
  CHECK(alice_inbox[0]["data"]["request_id"] == request_id);
  CHECK(alice_inbox[0]["data"]["user_id"] == "bob");
  CHECK(PushesOn(alice_phone, alice.inbox()) == alice_inbox);

  CHECK(FriendIds(http, alice) == std::vector<std::string>{"bob"});
  CHECK(FriendIds(http, bob) == std::vector<std::string>{"alice"});
  HttpResponse list = http.Get("/v1/friends", alice.token);
  REQUIRE(list.json["items"].size() == 1);
  CHECK(Keys(list.json["items"][0]) == std::set<std::string>{"user_id", "since"});
  CHECK(list.json["items"][0]["since"].get<int64_t>() >= before_ms);
  CHECK(PendingRequests(http, bob).empty());
  CHECK(Answer(http, bob, request_id, "accept").status == 404);  // answered already

  // A request to a friend is a conflict; to oneself or with a bad id invalid; to nobody 404.
  HttpResponse to_friend = RequestFriend(http, bob, "alice");
  CHECK_MESSAGE(to_friend.status == 409, to_friend.Describe());
  CHECK(to_friend.error_code() == "conflict");
  HttpResponse self = RequestFriend(http, alice, "alice");
  CHECK_MESSAGE(self.status == 400, self.Describe());
  CHECK(self.error_code() == "invalid_field");
  CHECK(RequestFriend(http, alice, "not valid!").status == 400);
  HttpResponse nobody = RequestFriend(http, alice, "nobody");
  CHECK_MESSAGE(nobody.status == 404, nobody.Describe());
  CHECK(nobody.error_code() == "not_found");

  // Unfriending ends it on both sides.
  HttpResponse unfriend = http.Delete("/v1/friends/bob", alice.token);
  CHECK_MESSAGE(unfriend.status == 204, unfriend.Describe());
  CHECK(FriendIds(http, alice).empty());
  CHECK(FriendIds(http, bob).empty());
  CHECK(http.Delete("/v1/friends/bob", alice.token).status == 404);
  // And they may ask again.
  HttpResponse fresh = RequestFriend(http, bob, "alice");
  CHECK_MESSAGE(fresh.status == 201, fresh.Describe());
  CHECK(fresh.json["request_id"] != request_id);
}

TEST_CASE(
    "friends: a rejected request tells the requester with friend.rejected and makes no friends") {
  TestStack stack;
  HttpClient http(stack.http_port());
  auto [alice, bob] = RegisterAndLogIn(http, {"alice", "bob"});

  HttpResponse req = RequestFriend(http, alice, "bob");
  REQUIRE_MESSAGE(req.status == 201, req.Describe());
  const std::string request_id = req.json["request_id"].get<std::string>();
  std::vector<json> bob_inbox = SyncUntilCount(http, bob, 1);
  REQUIRE(bob_inbox.size() == 1);
  CHECK(bob_inbox[0]["event"] == "friend.request");
  CHECK(bob_inbox[0]["data"]["note"] == "");  // no note: an empty one

  HttpResponse rejected = Answer(http, bob, request_id, "reject");
  REQUIRE_MESSAGE(rejected.status == 204, rejected.Describe());
  std::vector<json> alice_inbox = SyncAll(http, alice);
  REQUIRE(alice_inbox.size() == 1);
  CHECK(alice_inbox[0]["event"] == "friend.rejected");
  CHECK(alice_inbox[0]["data"]["request_id"] == request_id);
  CHECK(alice_inbox[0]["data"]["user_id"] == "bob");
  CHECK(FriendIds(http, alice).empty());
  CHECK(FriendIds(http, bob).empty());
  CHECK(PendingRequests(http, bob).empty());
  CHECK(Answer(http, bob, request_id, "accept").status == 404);

  // A new request after a rejection is a new one.
  HttpResponse again = RequestFriend(http, alice, "bob");
  REQUIRE_MESSAGE(again.status == 201, again.Describe());
  CHECK(again.json["request_id"] != request_id);
  CHECK(SyncAll(http, bob).size() == 2);
}

TEST_CASE(
    "blocks: a blocked user gets 403 blocked on send, friend request and signal; unblocking "
    "restores them") {
  TestStack stack;
  HttpClient http(stack.http_port());
  auto [alice, bob, carol] = RegisterAndLogIn(http, {"alice", "bob", "carol"});
  MqttDevice bob_phone(stack.mqtt());
  ConnectDevice(bob_phone, bob, stack);

  HttpResponse block = http.Post("/v1/blocks", {{"user_id", "alice"}}, bob.token);
  REQUIRE_MESSAGE(block.status == 204, block.Describe());
  HttpResponse blocks = http.Get("/v1/blocks", bob.token);
  CHECK(blocks.json["items"] == json::array({{{"user_id", "alice"}}}));

  HttpResponse send = Send(http, alice, "bob", "blocked-1");
  CHECK_MESSAGE(send.status == 403, send.Describe());
  CHECK(send.error_code() == "blocked");
  HttpResponse req = RequestFriend(http, alice, "bob");
  CHECK_MESSAGE(req.status == 403, req.Describe());
  CHECK(req.error_code() == "blocked");
  HttpResponse signal =
      http.Post("/v1/signals", {{"to", "user:bob"}, {"kind", "typing"}}, alice.token);
  CHECK_MESSAGE(signal.status == 403, signal.Describe());
  CHECK(signal.error_code() == "blocked");
  // Others are not affected, nor is bob's way to alice; nothing of alice's reached bob.
  SendOk(http, carol, "bob", "from-carol");
  SendOk(http, bob, "alice", "bob-to-alice");
  REQUIRE_MESSAGE(WaitForCmid(bob_phone, "bob-to-alice"), stack.AllLogTails());
  std::this_thread::sleep_for(200ms);
  CHECK(EntryLabels(SyncAll(http, bob)) == "msg:from-carol, msg:bob-to-alice");
  for (const MqttMessage& m : bob_phone.Messages()) {
    CHECK_MESSAGE(m.json.value("from", "") != "alice", m.payload);
  }

  // Blocking nobody, or oneself, is refused.
  CHECK(http.Post("/v1/blocks", {{"user_id", "nobody"}}, bob.token).status == 404);
  CHECK(http.Post("/v1/blocks", {{"user_id", "bob"}}, bob.token).status == 400);

  HttpResponse unblock = http.Delete("/v1/blocks/alice", bob.token);
  CHECK_MESSAGE(unblock.status == 204, unblock.Describe());
  CHECK(http.Get("/v1/blocks", bob.token).json["items"].empty());
  // The cmid of the refused send was not recorded: it makes a new message now.
  json reply = SendOk(http, alice, "bob", "blocked-1");
  CHECK(reply["conv"] == "u:alice:bob");
  CHECK(RequestFriend(http, alice, "bob").status == 201);
  CHECK(http.Post("/v1/signals", {{"to", "user:bob"}, {"kind", "typing"}}, alice.token).status ==
        202);
  REQUIRE_MESSAGE(WaitForCmid(bob_phone, "blocked-1"), stack.AllLogTails());
  REQUIRE(bob_phone.WaitFor([](const MqttMessage& m) {
    return m.json.is_object() && m.json.value("type", "") == "signal";
  }));
}

TEST_CASE(
    "friends policy: with --messaging-policy friends only friends message one to one; notes to "
    "self still work") {
  TestStackOptions options;
  options.uplink_args = {"--messaging-policy", "friends"};
  TestStack stack(options);
  HttpClient http(stack.http_port());
  auto [alice, bob] = RegisterAndLogIn(http, {"alice", "bob"});

  HttpResponse send = Send(http, alice, "bob", "p-1");
  CHECK_MESSAGE(send.status == 403, send.Describe());
  CHECK(send.error_code() == "forbidden");
  CHECK(Send(http, bob, "alice", "p-2").status == 403);
  CHECK(SyncAll(http, bob).empty());
  json self = SendOk(http, alice, "alice", "note-to-self");
  CHECK(self["conv"] == "u:alice:alice");

  HttpResponse req = RequestFriend(http, alice, "bob");  // requests need no friendship
  REQUIRE_MESSAGE(req.status == 201, req.Describe());
  REQUIRE(Answer(http, bob, req.json["request_id"].get<std::string>(), "accept").status == 204);
  json a = SendOk(http, alice, "bob", "p-1");  // the refused cmid, now accepted
  json b = SendOk(http, bob, "alice", "p-2");
  CHECK(a["conv_seq"] == 1);
  CHECK(b["conv_seq"] == 2);

  // No longer friends: no more messages.
  REQUIRE(http.Delete("/v1/friends/alice", bob.token).status == 204);
  send = Send(http, alice, "bob", "p-3");
  CHECK_MESSAGE(send.status == 403, send.Describe());
  CHECK(send.error_code() == "forbidden");
}

TEST_CASE(
    "friends: asking someone who already asked you accepts their request; both are friends at "
    "once") {
  TestStack stack;
  HttpClient http(stack.http_port());
  auto [alice, bob] = RegisterAndLogIn(http, {"alice", "bob"});

  HttpResponse theirs = RequestFriend(http, alice, "bob", "hi bob");
  REQUIRE_MESSAGE(theirs.status == 201, theirs.Describe());
  const std::string request_id = theirs.json["request_id"].get<std::string>();
  HttpResponse crossed = RequestFriend(http, bob, "alice", "hi alice");
  CHECK_MESSAGE(crossed.status == 201, crossed.Describe());
  CHECK(crossed.json["request_id"] == request_id);

  CHECK(FriendIds(http, alice) == std::vector<std::string>{"bob"});
  CHECK(FriendIds(http, bob) == std::vector<std::string>{"alice"});
  CHECK(PendingRequests(http, alice).empty());
  CHECK(PendingRequests(http, bob).empty());
  // Alice hears that her request was accepted, and gets no request of bob's.
  std::vector<json> alice_inbox = SyncAll(http, alice);
  CHECK(EntryLabels(alice_inbox) == "friend.accepted");
  REQUIRE(alice_inbox.size() == 1);
  CHECK(alice_inbox[0]["data"]["request_id"] == request_id);
  CHECK(alice_inbox[0]["data"]["user_id"] == "bob");
  CHECK(EntryLabels(SyncAll(http, bob)) == "friend.request");
}

TEST_CASE(
    "presence signals: friends' devices hear when the user's first device comes online and the "
    "last goes offline; others and blocked friends don't") {
  TestStack stack;
  HttpClient http(stack.http_port());
  for (const char* u : {"alice", "bob", "carol", "dave"}) Register(http, u);
  Login alice = LogIn(http, "alice", "phone");
  Login bob = LogIn(http, "bob", "phone", "ios");
  Login bob_tablet = LogIn(http, "bob", "tablet", "android");
  Login carol = LogIn(http, "carol", "phone");
  Login dave = LogIn(http, "dave", "phone");
  // Bob's friends: alice and carol; bob blocks carol. Dave is nobody's friend.
  for (const Login* f : {&alice, &carol}) {
    HttpResponse req = RequestFriend(http, *f, "bob");
    REQUIRE_MESSAGE(req.status == 201, req.Describe());
    REQUIRE(Answer(http, bob, req.json["request_id"].get<std::string>(), "accept").status == 204);
  }
  REQUIRE(http.Post("/v1/blocks", {{"user_id", "carol"}}, bob.token).status == 204);
  MqttDevice alice_phone(stack.mqtt()), carol_phone(stack.mqtt()), dave_phone(stack.mqtt());
  ConnectInbox(alice_phone, alice, stack);
  ConnectInbox(carol_phone, carol, stack);
  ConnectInbox(dave_phone, dave, stack);
  auto presence_of_bob = [](const MqttMessage& m) {
    return m.json.is_object() && m.json.value("type", "") == "signal" &&
           m.json.value("kind", "") == "presence" && m.json.value("from", "") == "bob";
  };
  auto presences = [&](const MqttDevice& d) {
    std::vector<json> out;
    for (const MqttMessage& m : d.Messages()) {
      if (presence_of_bob(m)) out.push_back(m.json);
    }
    return out;
  };

  // First device online: alice hears it.
  const int64_t before_ms = WallMs();
  MqttDevice phone(stack.mqtt()), tablet(stack.mqtt());
  ConnectInbox(phone, bob, stack);
  REQUIRE_MESSAGE(alice_phone.WaitFor(presence_of_bob), stack.AllLogTails());
  std::vector<json> got = presences(alice_phone);
  REQUIRE(got.size() == 1);
  CHECK(got[0] == json{{"type", "signal"},
                       {"kind", "presence"},
                       {"from", "bob"},
                       {"online", true},
                       {"ts", got[0]["ts"]}});
  CHECK(got[0]["ts"].get<int64_t>() >= before_ms);
  CHECK(alice_phone.MessagesOn(alice.inbox()).back().json == got[0]);  // on the inbox topic

  // A second device and its leaving change nothing; the last device leaving does.
  ConnectInbox(tablet, bob_tablet, stack);
  REQUIRE(tablet.Disconnect());
  REQUIRE(phone.Disconnect());
  REQUIRE_MESSAGE(alice_phone.WaitFor(presence_of_bob, 2), stack.AllLogTails());
  std::this_thread::sleep_for(500ms);
  got = presences(alice_phone);
  REQUIRE(got.size() == 2);
  CHECK(got[1]["online"] == false);
  CHECK_FALSE(got[1].contains("seq"));
  CHECK(presences(carol_phone).empty());  // blocked by bob
  CHECK(presences(dave_phone).empty());   // not a friend
  // Not stored: alice's inbox holds her friend.accepted only.
  CHECK(EntryLabels(SyncAll(http, alice)) == "friend.accepted");
}

}  // namespace
}  // namespace courier::testing
