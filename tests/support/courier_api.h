// What the integration tests do through Courier's API the way a client does: register a user and
// log in a device, connect it to the broker with the login's mqtt block, send, sync, and look at
// what was pushed.
//
//   Register(http, "bob");
//   Login bob = LogIn(http, "bob", "phone", "ios");
//   MqttDevice phone(stack.mqtt());  // meets bob's broker
//   ConnectDevice(phone, bob, stack);
//   json reply = SendOk(http, alice, "bob", "c-1", json{{"text", "hi"}});
//   REQUIRE(WaitForSeq(phone, bob.inbox(), 1));
//   CHECK(SyncAll(http, bob) == PushesOn(phone, bob.inbox()));
//
// Helpers that REQUIRE success end the test case on failure (doctest's REQUIRE throws), with the
// answer or the broker's log in the message: call them on the test's own thread, never from a
// thread the test started. The others only return what happened, for the test to check.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "common/jwt.h"
#include "tests/support/http_client.h"
#include "tests/support/mqtt_device.h"
#include "tests/support/test_stack.h"

namespace courier::testing {

// ----- Small things.

// Milliseconds since the Unix epoch by the wall clock: to bracket the `ts` the server stamps.
int64_t WallMs();

// The keys of a JSON object; empty for anything else.
std::set<std::string> Keys(const nlohmann::json& object);

// The claims in the payload of a token the uplink issued, decoded without checking the
// signature. REQUIREs a token of three parts with a base64url payload.
TokenClaims ClaimsOf(const std::string& token);

// ----- Users and devices.

// The password Register gives `user`: "pw-<user>-1".
std::string PasswordOf(const std::string& user);

// A device's session, from a successful POST /v1/sessions.
struct Login {
  std::string user;
  std::string device;
  std::string token;
  nlohmann::json mqtt;    // the answer's mqtt block: host, port, client_id, username, ...
  nlohmann::json answer;  // the whole answer
  std::string client_id() const { return mqtt["client_id"].get<std::string>(); }
  std::string inbox() const { return mqtt["topics"]["inbox"].get<std::string>(); }
  std::string device_topic() const { return mqtt["topics"]["device"].get<std::string>(); }
};

// Registers `user` with PasswordOf(user). REQUIREs 201.
void Register(const HttpClient& http, const std::string& user);

// Registers each of `users` and logs each in on device "phone"; the logins in that order:
//   auto [alice, bob] = RegisterAndLogIn(http, {"alice", "bob"});
template <size_t N>
std::array<Login, N> RegisterAndLogIn(const HttpClient& http, const char* const (&users)[N]);

// Logs `user` in (with PasswordOf(user)) on `device`. An empty `platform` sends none, so the
// uplink's default (cli) applies. REQUIREs 200; returns the session.
Login LogIn(const HttpClient& http, const std::string& user, const std::string& device = "phone",
            const std::string& platform = "");

// Connects `device` with the login's mqtt block (client id, username, password; keepalive 30 s)
// and subscribes it at QoS 1 to the login's inbox and device topics. REQUIREs the connection
// (with the broker's log in the message) and both subscriptions granted at QoS 1. `timeout`
// bounds the connect.
void ConnectDevice(MqttDevice& device, const Login& login, const TestStack& stack,
                   std::chrono::milliseconds timeout = MqttDevice::kDefaultTimeout);

// As ConnectDevice, but subscribes to the login's inbox topic only.
void ConnectInbox(MqttDevice& device, const Login& login, const TestStack& stack);

// ----- Messages.

// POST /v1/messages from `from` to "user:<to_user>" with `cmid` and `body`; returns the answer
// whatever it is.
HttpResponse Send(const HttpClient& http, const Login& from, const std::string& to_user,
                  const std::string& cmid, const nlohmann::json& body);
// The same with the body {"text": cmid}.
HttpResponse Send(const HttpClient& http, const Login& from, const std::string& to_user,
                  const std::string& cmid);

// Send, for a new message: REQUIREs 201; returns the reply {id, conv, conv_seq, ts}.
nlohmann::json SendOk(const HttpClient& http, const Login& from, const std::string& to_user,
                      const std::string& cmid, const nlohmann::json& body);
// The same with the body {"text": cmid}.
nlohmann::json SendOk(const HttpClient& http, const Login& from, const std::string& to_user,
                      const std::string& cmid);

// ----- The inbox.

// GET /v1/sync<query> (e.g. "?after=0&limit=2") as `login`; returns the answer whatever it is.
HttpResponse Sync(const HttpClient& http, const Login& login, const std::string& query);

// The whole inbox in one request (?after=0&limit=1000). REQUIREs 200 and has_more false;
// returns the items and, if `epoch` is set, stores the inbox's epoch there.
std::vector<nlohmann::json> Inbox(const HttpClient& http, const Login& login,
                                  std::string* epoch = nullptr);

// Every envelope after seq `after`, page by page at the default limit, following next_after while
// has_more. REQUIREs 200 for each page and FAILs after 100 pages; stores the (last page's) epoch
// in `epoch` if set.
std::vector<nlohmann::json> SyncFrom(const HttpClient& http, const Login& login, int64_t after,
                                     std::string* epoch = nullptr);
// SyncFrom(http, login, 0, epoch): the whole inbox.
std::vector<nlohmann::json> SyncAll(const HttpClient& http, const Login& login,
                                    std::string* epoch = nullptr);

// ----- Pushes.

// The parsed payloads received on `topic`, in arrival order.
std::vector<nlohmann::json> PushesOn(const MqttDevice& device, const std::string& topic);

// Waits until a push with this `seq` has arrived on `topic`; true if it did within `timeout`.
bool WaitForSeq(const MqttDevice& device, const std::string& topic, int64_t seq,
                std::chrono::milliseconds timeout = MqttDevice::kDefaultTimeout);

// Waits until a push with this `cmid` has arrived on any topic; true if it did within `timeout`.
bool WaitForCmid(const MqttDevice& device, const std::string& cmid,
                 std::chrono::milliseconds timeout = MqttDevice::kDefaultTimeout);

template <size_t N>
std::array<Login, N> RegisterAndLogIn(const HttpClient& http, const char* const (&users)[N]) {
  for (const char* u : users) Register(http, u);
  std::array<Login, N> out;
  for (size_t i = 0; i < N; ++i) out[i] = LogIn(http, users[i], "phone");
  return out;
}

}  // namespace courier::testing

// ===== Beyond one-to-one messaging (SPEC §3-§4): groups, rooms, friends, conversations. =====
// Added for groups_test, friends_test, conversations_test, rooms_test and sso_test. Group
// entries reach inboxes through the downlink's fan-out, a little after the HTTP answer: poll
// with SyncUntil rather than syncing once.

#include <functional>

namespace courier::testing {

// POST /v1/messages from `from` to the address `to` ("user:<id>", "group:<id>" or
// "room:<id>") with `cmid` and `body`; returns the answer whatever it is.
HttpResponse SendTo(const HttpClient& http, const Login& from, const std::string& to,
                    const std::string& cmid, const nlohmann::json& body);
// SendTo with the body {"text": cmid}, for a new message: REQUIREs 201; returns the reply.
nlohmann::json SendToOk(const HttpClient& http, const Login& from, const std::string& to,
                        const std::string& cmid);

// POST /v1/groups {group_id, name: group_id, members} as `owner`. REQUIREs 201; returns the
// group.
nlohmann::json CreateGroup(const HttpClient& http, const Login& owner, const std::string& group_id,
                           const std::vector<std::string>& members);
// POST /v1/groups/{group_id}/members {user_ids}; returns the answer whatever it is.
HttpResponse AddMembers(const HttpClient& http, const Login& by, const std::string& group_id,
                        const std::vector<std::string>& user_ids);
// DELETE /v1/groups/{group_id}/members/{user_id}; returns the answer whatever it is.
HttpResponse RemoveMember(const HttpClient& http, const Login& by, const std::string& group_id,
                          const std::string& user_id);

// Syncs the whole inbox (SyncAll) until `done(items)` holds or `timeout` passes; returns the
// last items either way (the caller checks them).
std::vector<nlohmann::json> SyncUntil(
    const HttpClient& http, const Login& login,
    const std::function<bool(const std::vector<nlohmann::json>&)>& done,
    std::chrono::milliseconds timeout = MqttDevice::kDefaultTimeout);
// SyncUntil the inbox holds at least `n` entries.
std::vector<nlohmann::json> SyncUntilCount(
    const HttpClient& http, const Login& login, size_t n,
    std::chrono::milliseconds timeout = MqttDevice::kDefaultTimeout);

// The inbox's shape at a glance, one label per entry joined by ", " (a string, so a failed
// CHECK prints it): a notification's event ("group.created"), "msg:<cmid>" for a message,
// "signal:<kind>" for a signal. E.g. "group.created, msg:m1, group.member_left".
std::string EntryLabels(const std::vector<nlohmann::json>& items);
// The notifications of `event` in `items`, in order.
std::vector<nlohmann::json> EventsOf(const std::vector<nlohmann::json>& items,
                                     const std::string& event);
// True if `items` hold seqs 1, 2, ..., items.size() in this order.
bool SeqsAreContiguousFromOne(const std::vector<nlohmann::json>& items);

}  // namespace courier::testing
