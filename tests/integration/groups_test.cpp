// Groups end to end (SPEC §3, §4; docs/design.md "Groups"): a group message is written once by
// the uplink and copied into every member's inbox by the downlink's fan-out — exactly once, in
// one conv_seq order for everyone, with membership changes ordered among the messages. Rights:
// members only, the owner (and admins) add and remove, anyone leaves, an owner who leaves hands
// the group on; the group size limit.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
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
using Steady = std::chrono::steady_clock;

const std::set<std::string> kMessageEnvelopeKeys = {
    "seq", "epoch", "type", "id", "conv", "conv_seq", "from", "to", "cmid", "kind", "body", "ts"};
const std::set<std::string> kNotificationKeys = {"seq", "epoch", "type", "event", "data", "ts"};

double MsSince(Steady::time_point start) {
  return std::chrono::duration<double, std::milli>(Steady::now() - start).count();
}

// The entries of `items` that are messages of conversation `conv`, in inbox order.
std::vector<json> MessagesOf(const std::vector<json>& items, const std::string& conv) {
  std::vector<json> out;
  for (const json& e : items) {
    if (e.value("type", "") == "message" && e.value("conv", "") == conv) out.push_back(e);
  }
  return out;
}

bool HasId(const std::vector<json>& items, const json& id) {
  return std::any_of(items.begin(), items.end(),
                     [&](const json& e) { return e.is_object() && e.value("id", json()) == id; });
}

// "u000", "u001", ...: user names that sort in creation order.
std::string Numbered(const char* prefix, int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%03d", prefix, i);
  return buf;
}

// Registers and logs in `users` with `threads` threads (the harness has no bulk path; with
// pbkdf2 at 1000 rounds each is cheap). CHECKs every answer on the test's thread afterwards.
std::vector<Login> RegisterAndLogInAll(const HttpClient& http,
                                       const std::vector<std::string>& users, int threads = 4) {
  std::vector<HttpResponse> registered(users.size()), logged_in(users.size());
  std::atomic<size_t> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (size_t i = next++; i < users.size(); i = next++) {
        registered[i] =
            http.Post("/v1/users", {{"user_id", users[i]}, {"password", PasswordOf(users[i])}});
        if (registered[i].status != 201) continue;
        logged_in[i] = http.Post(
            "/v1/sessions",
            {{"user_id", users[i]}, {"password", PasswordOf(users[i])}, {"device_id", "phone"}});
      }
    });
  }
  for (std::thread& t : pool) t.join();
  std::vector<Login> out;
  for (size_t i = 0; i < users.size(); ++i) {
    REQUIRE_MESSAGE(registered[i].status == 201, users[i] << ": " << registered[i].Describe());
    REQUIRE_MESSAGE(logged_in[i].status == 200, users[i] << ": " << logged_in[i].Describe());
    const json& a = logged_in[i].json;
    out.push_back(Login{users[i], "phone", a["token"].get<std::string>(), a["mqtt"], a});
  }
  return out;
}

// The member list of a group answer as user -> role.
std::map<std::string, std::string> Roles(const json& group) {
  std::map<std::string, std::string> out;
  for (const json& m : group["members"]) {
    out[m["user_id"].get<std::string>()] = m["role"].get<std::string>();
  }
  return out;
}

TEST_CASE(
    "groups: one message to a 500-member group reaches every member's inbox exactly once, with "
    "one conv_seq") {
  TestStack stack;
  HttpClient http(stack.http_port());
  std::vector<std::string> names;
  for (int i = 0; i < 500; ++i) names.push_back(Numbered("m", i));
  const auto registering = Steady::now();
  std::vector<Login> members = RegisterAndLogInAll(http, names);
  MESSAGE("registered and logged in 500 users in " << MsSince(registering) << " ms");
  const Login& owner = members[0];

  // A 2-member group for comparison, then the 500-member one (the owner and 499 others).
  json pair = CreateGroup(http, owner, "pair", {names[1]});
  CHECK(pair["members"].size() == 2);
  std::vector<std::string> others(names.begin() + 1, names.end());
  json big = CreateGroup(http, owner, "big", others);
  REQUIRE(big["members"].size() == 500);
  CHECK(big["owner"] == owner.user);

  // The one message; its reply time, and a 2-member group's just before, are the figures.
  auto start = Steady::now();
  SendToOk(http, owner, "group:pair", "pair-1");
  std::vector<double> pair_ms = {MsSince(start)};
  start = Steady::now();
  const json reply = SendToOk(http, owner, "group:big", "big-1");
  std::vector<double> big_ms = {MsSince(start)};
  const auto sent_at = Steady::now();
  CHECK(reply["conv"] == "g:big");
  CHECK(reply["conv_seq"] == 1);

  // The fan-out runs through the members in id order; m499 is among the last.
  std::vector<json> last_inbox = SyncUntil(
      http, members[499], [&](const std::vector<json>& it) { return HasId(it, reply["id"]); });
  REQUIRE_MESSAGE(HasId(last_inbox, reply["id"]), stack.AllLogTails());
  const double fanned_ms = MsSince(sent_at);

  for (size_t u = 0; u < members.size(); ++u) {
    CAPTURE(names[u]);
    std::vector<json> inbox = SyncUntil(
        http, members[u], [&](const std::vector<json>& it) { return HasId(it, reply["id"]); });
    REQUIRE(SeqsAreContiguousFromOne(inbox));
    std::vector<json> in_big = MessagesOf(inbox, "g:big");
    REQUIRE(in_big.size() == 1);  // exactly once
    const json& m = in_big[0];
    CHECK(Keys(m) == kMessageEnvelopeKeys);
    CHECK(m["id"] == reply["id"]);
    CHECK(m["conv_seq"] == reply["conv_seq"]);
    CHECK(m["ts"] == reply["ts"]);
    CHECK(m["from"] == owner.user);
    CHECK(m["to"] == "group:big");
    CHECK(m["cmid"] == "big-1");
    if (u >= 2) {
      // Nothing else: the group's creation, then the message.
      CHECK(EntryLabels(inbox) == "group.created, msg:big-1");
    } else {
      // The owner (the sender's copy) and m001 are in "pair" too.
      CHECK(inbox.size() == 4);
      CHECK(MessagesOf(inbox, "g:pair").size() == 1);
      CHECK(EventsOf(inbox, "group.created").size() == 2);
    }
  }

  // More samples of the reply times: 10 more sends to each, alternating.
  json last;
  for (int i = 2; i <= 11; ++i) {
    start = Steady::now();
    SendToOk(http, owner, "group:pair", "pair-" + std::to_string(i));
    pair_ms.push_back(MsSince(start));
    start = Steady::now();
    last = SendToOk(http, owner, "group:big", "big-" + std::to_string(i));
    big_ms.push_back(MsSince(start));
  }
  CHECK(last["conv_seq"] == 11);
  last_inbox = SyncUntil(http, members[499],
                         [&](const std::vector<json>& it) { return HasId(it, last["id"]); });
  CHECK(MessagesOf(last_inbox, "g:big").size() == 11);
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  auto max = [](const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); };
  MESSAGE("send reply time over 11 sends each: 2-member group median "
          << median(pair_ms) << " ms (first " << pair_ms[0] << ", max " << max(pair_ms)
          << "); 500-member group median " << median(big_ms) << " ms (first " << big_ms[0]
          << ", max " << max(big_ms)
          << "). The first message reached m499's inbox (the fan-out goes in id order, so "
          << "it is among the last) " << fanned_ms << " ms after its send returned.");
}

TEST_CASE(
    "groups: 100 messages from 4 concurrent senders reach every member once, in one contiguous "
    "conv_seq order") {
  TestStack stack;
  HttpClient http(stack.http_port());
  const std::vector<std::string> names = {"s0", "s1", "s2", "s3", "r0", "r1"};
  std::vector<Login> users;
  for (const std::string& u : names) Register(http, u);
  for (const std::string& u : names) users.push_back(LogIn(http, u, "phone"));
  MqttDevice r0_phone(stack.mqtt());
  ConnectDevice(r0_phone, users[4], stack);
  CreateGroup(http, users[0], "busy", {"s1", "s2", "s3", "r0", "r1"});

  constexpr int kSenders = 4, kEach = 25;
  std::vector<std::vector<HttpResponse>> replies(kSenders);
  {
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int s = 0; s < kSenders; ++s) {
      threads.emplace_back([&, s] {
        while (!go.load()) std::this_thread::yield();
        for (int i = 0; i < kEach; ++i) {
          replies[s].push_back(SendTo(http, users[s], "group:busy",
                                      names[s] + "-" + std::to_string(i),
                                      json{{"sender", s}, {"i", i}}));
          if (!replies[s].back().ok()) return;
        }
      });
    }
    go = true;
    for (std::thread& t : threads) t.join();
  }
  std::map<std::string, int64_t> conv_seq_of;  // id -> conv_seq from the send reply
  std::set<int64_t> reply_seqs;
  for (int s = 0; s < kSenders; ++s) {
    REQUIRE(replies[s].size() == kEach);
    int64_t previous = 0;
    for (int i = 0; i < kEach; ++i) {
      const HttpResponse& r = replies[s][i];
      REQUIRE_MESSAGE(r.status == 201, names[s] << " #" << i << ": " << r.Describe());
      conv_seq_of[r.json["id"].get<std::string>()] = r.json["conv_seq"].get<int64_t>();
      reply_seqs.insert(r.json["conv_seq"].get<int64_t>());
      // One sender's sends, each after the previous 2xx, take ascending conv_seqs.
      CHECK(r.json["conv_seq"].get<int64_t>() > previous);
      previous = r.json["conv_seq"].get<int64_t>();
    }
  }
  REQUIRE(conv_seq_of.size() == 100);
  CHECK(reply_seqs.size() == 100);
  CHECK(*reply_seqs.begin() == 1);
  CHECK(*reply_seqs.rbegin() == 100);

  std::vector<std::string> reference_ids;
  for (size_t u = 0; u < users.size(); ++u) {
    CAPTURE(names[u]);
    std::vector<json> inbox = SyncUntilCount(http, users[u], 101, 20s);
    REQUIRE_MESSAGE(inbox.size() == 101, stack.AllLogTails());
    CHECK(SeqsAreContiguousFromOne(inbox));
    CHECK(inbox[0]["event"] == "group.created");
    std::vector<json> msgs = MessagesOf(inbox, "g:busy");
    REQUIRE(msgs.size() == 100);
    std::vector<std::string> ids;
    std::vector<int> next_i(kSenders, 0);
    for (size_t k = 0; k < msgs.size(); ++k) {
      CAPTURE(k);
      // conv_seq rises by exactly 1 along seq: 1..100, in the same order as the inbox.
      CHECK(msgs[k]["conv_seq"] == k + 1);
      const std::string id = msgs[k]["id"].get<std::string>();
      REQUIRE(conv_seq_of.count(id) == 1);
      CHECK(conv_seq_of[id] == msgs[k]["conv_seq"].get<int64_t>());
      // Each sender's messages in the order sent.
      const int s = msgs[k]["body"]["sender"].get<int>();
      CHECK(msgs[k]["body"]["i"] == next_i[s]++);
      CHECK(msgs[k]["from"] == names[s]);
      ids.push_back(id);
    }
    CHECK(std::set<std::string>(ids.begin(), ids.end()).size() == 100);
    if (reference_ids.empty()) {
      reference_ids = ids;
    } else {
      CHECK(ids == reference_ids);  // one order for every member
    }
  }
  // The connected member's device was pushed the same 101 entries in seq order.
  REQUIRE_MESSAGE(WaitForSeq(r0_phone, users[4].inbox(), 101, 15s), stack.AllLogTails());
  std::this_thread::sleep_for(200ms);
  CHECK(PushesOn(r0_phone, users[4].inbox()) == SyncAll(http, users[4]));
}

TEST_CASE(
    "groups: an offline member gets membership changes and messages by sync in order; a removed "
    "member gets their removal and nothing after; a re-added one from the re-add on") {
  TestStack stack;
  HttpClient http(stack.http_port());
  for (const char* u : {"alice", "bob", "carol", "dave"}) Register(http, u);
  Login alice = LogIn(http, "alice", "phone");
  Login bob = LogIn(http, "bob", "phone");  // never connects to the broker
  Login carol = LogIn(http, "carol", "phone");
  Login dave = LogIn(http, "dave", "phone");

  json created = CreateGroup(http, alice, "club", {"bob", "carol"});
  CHECK(Roles(created) == std::map<std::string, std::string>{
                              {"alice", "owner"}, {"bob", "member"}, {"carol", "member"}});
  SendToOk(http, alice, "group:club", "m1");
  HttpResponse add = AddMembers(http, alice, "club", {"dave"});
  REQUIRE_MESSAGE(add.status == 200, add.Describe());
  CHECK(Roles(add.json).count("dave") == 1);
  SendToOk(http, carol, "group:club", "m2");
  HttpResponse removed = RemoveMember(http, alice, "club", "carol");
  REQUIRE_MESSAGE(removed.status == 204, removed.Describe());
  HttpResponse left = RemoveMember(http, dave, "club", "dave");
  REQUIRE_MESSAGE(left.status == 204, left.Describe());
  json m3 = SendToOk(http, alice, "group:club", "m3");

  // Bob, never online: everything by sync, in the order it happened.
  std::vector<json> bob_inbox =
      SyncUntil(http, bob, [&](const std::vector<json>& it) { return HasId(it, m3["id"]); });
  CHECK(EntryLabels(bob_inbox) ==
        "group.created, msg:m1, group.member_added, msg:m2, group.member_removed, "
        "group.member_left, msg:m3");
  CHECK(SeqsAreContiguousFromOne(bob_inbox));
  REQUIRE(bob_inbox.size() == 7);
  for (const json& e : bob_inbox) {
    if (e["type"] == "notification") CHECK(Keys(e) == kNotificationKeys);
  }
  CHECK(bob_inbox[0]["data"] ==
        json{{"group_id", "club"}, {"name", "club"}, {"owner", "alice"}, {"by", "alice"}});
  CHECK(bob_inbox[2]["data"] == json{{"group_id", "club"}, {"user_id", "dave"}, {"by", "alice"}});
  CHECK(bob_inbox[4]["data"] == json{{"group_id", "club"}, {"user_id", "carol"}, {"by", "alice"}});
  CHECK(bob_inbox[5]["data"] == json{{"group_id", "club"}, {"user_id", "dave"}, {"by", "dave"}});
  CHECK(bob_inbox[1]["conv_seq"] == 1);
  CHECK(bob_inbox[3]["conv_seq"] == 2);
  CHECK(bob_inbox[6]["conv_seq"] == 3);

  // Carol was removed: her own removal is her last group entry; m3 never reached her.
  // (Bob has m3, so the fan-out that would have given it to her has run.)
  std::this_thread::sleep_for(200ms);
  std::vector<json> carol_inbox = SyncAll(http, carol);
  CHECK(EntryLabels(carol_inbox) ==
        "group.created, msg:m1, group.member_added, msg:m2, group.member_removed");
  REQUIRE(carol_inbox.size() == 5);
  CHECK(carol_inbox[4]["data"]["user_id"] == "carol");
  // Dave: from his addition to his leaving.
  CHECK(EntryLabels(SyncAll(http, dave)) ==
        "group.member_added, msg:m2, group.member_removed, group.member_left");

  // Former members can't send or read any more.
  HttpResponse send = SendTo(http, carol, "group:club", "late", json{{"text", "x"}});
  CHECK_MESSAGE(send.status == 403, send.Describe());
  CHECK(send.error_code() == "not_member");
  HttpResponse history = http.Get("/v1/conversations/g:club/messages", carol.token);
  CHECK_MESSAGE(history.status == 403, history.Describe());
  CHECK(history.error_code() == "not_member");

  // Carol is added again: she gets her re-addition and what follows, not m3.
  REQUIRE(AddMembers(http, alice, "club", {"carol"}).status == 200);
  json m4 = SendToOk(http, alice, "group:club", "m4");
  carol_inbox =
      SyncUntil(http, carol, [&](const std::vector<json>& it) { return HasId(it, m4["id"]); });
  CHECK(EntryLabels(carol_inbox) ==
        "group.created, msg:m1, group.member_added, msg:m2, group.member_removed, "
        "group.member_added, msg:m4");
  CHECK(SeqsAreContiguousFromOne(carol_inbox));
  if (carol_inbox.size() == 7) {
    CHECK(carol_inbox[5]["data"] ==
          json{{"group_id", "club"}, {"user_id", "carol"}, {"by", "alice"}});
    CHECK(carol_inbox[6]["conv_seq"] == 4);
  }
  bob_inbox =
      SyncUntil(http, bob, [&](const std::vector<json>& it) { return HasId(it, m4["id"]); });
  CHECK(bob_inbox.size() == 9);
  CHECK(SyncAll(http, dave).size() == 4);  // dave left: nothing new
  CHECK(SendTo(http, carol, "group:club", "back", json{{"text", "hi"}}).status == 201);
}

TEST_CASE(
    "groups: a member removed, re-added and removed again while the downlink is down still gets "
    "each of their membership spans") {
  TestStack stack;
  HttpClient http(stack.http_port());
  auto [alice, bob, carol] = RegisterAndLogIn(http, {"alice", "bob", "carol"});

  // Nothing is fanned out while the downlink is down; the feed keeps it all in order.
  stack.StopDownlink();
  CreateGroup(http, alice, "club", {"bob", "carol"});
  SendToOk(http, alice, "group:club", "a1");
  REQUIRE(RemoveMember(http, alice, "club", "carol").status == 204);
  SendToOk(http, alice, "group:club", "a2");  // carol is out
  REQUIRE(AddMembers(http, alice, "club", {"carol"}).status == 200);
  SendToOk(http, alice, "group:club", "a3");
  REQUIRE(RemoveMember(http, alice, "club", "carol").status == 204);
  json a4 = SendToOk(http, alice, "group:club", "a4");  // carol is out again
  REQUIRE(stack.StartDownlink().ok());

  std::vector<json> bob_inbox =
      SyncUntil(http, bob, [&](const std::vector<json>& it) { return HasId(it, a4["id"]); });
  CHECK(EntryLabels(bob_inbox) ==
        "group.created, msg:a1, group.member_removed, msg:a2, group.member_added, msg:a3, "
        "group.member_removed, msg:a4");
  std::this_thread::sleep_for(200ms);
  // Carol was a member from the creation to her first removal and from her re-addition to her
  // second removal: she must see both spans, each ending with her own removal.
  CHECK(EntryLabels(SyncAll(http, carol)) ==
        "group.created, msg:a1, group.member_removed, group.member_added, msg:a3, "
        "group.member_removed");
}

TEST_CASE(
    "groups: members only; unknown groups are 404; only the owner adds and removes; anyone "
    "leaves; a leaving owner hands the group on") {
  TestStack stack;
  HttpClient http(stack.http_port());
  auto [alice, bob, carol, dave, erin] =
      RegisterAndLogIn(http, {"alice", "bob", "carol", "dave", "erin"});

  // Creation: the answer's shape; the creator is the owner, listed once even if named.
  HttpResponse r = http.Post(
      "/v1/groups", {{"group_id", "team"}, {"name", "The Team"}, {"members", {"bob", "alice"}}},
      alice.token);
  REQUIRE_MESSAGE(r.status == 201, r.Describe());
  CHECK(r.json["group_id"] == "team");
  CHECK(r.json["name"] == "The Team");
  CHECK(r.json["owner"] == "alice");
  CHECK(r.json["members"] == json::array({{{"user_id", "alice"}, {"role", "owner"}},
                                          {{"user_id", "bob"}, {"role", "member"}}}));
  REQUIRE(AddMembers(http, alice, "team", {"carol"}).status == 200);
  HttpResponse got = http.Get("/v1/groups/team", carol.token);
  REQUIRE_MESSAGE(got.status == 200, got.Describe());
  CHECK(Roles(got.json) == std::map<std::string, std::string>{
                               {"alice", "owner"}, {"bob", "member"}, {"carol", "member"}});

  // A group id is taken once; without one the server picks one.
  r = http.Post("/v1/groups", {{"group_id", "team"}, {"name", "again"}, {"members", json::array()}},
                dave.token);
  CHECK_MESSAGE(r.status == 409, r.Describe());
  CHECK(r.error_code() == "conflict");
  CHECK(Roles(http.Get("/v1/groups/team", alice.token).json).count("dave") == 0);
  r = http.Post("/v1/groups", {{"name", "unnamed"}, {"members", {"erin"}}}, dave.token);
  REQUIRE_MESSAGE(r.status == 201, r.Describe());
  REQUIRE(r.json["group_id"].is_string());
  CHECK_FALSE(r.json["group_id"].get<std::string>().empty());
  CHECK(http.Get("/v1/groups/" + r.json["group_id"].get<std::string>(), erin.token).status == 200);

  // An unknown member: 404, and no group is left behind (the same id works afterwards).
  r = http.Post("/v1/groups",
                {{"group_id", "ghosts"}, {"name", "g"}, {"members", {"bob", "nobody"}}},
                alice.token);
  CHECK_MESSAGE(r.status == 404, r.Describe());
  CHECK(r.error_code() == "not_found");
  CHECK(http.Get("/v1/groups/ghosts", alice.token).status == 404);
  CHECK(AddMembers(http, alice, "team", {"nobody"}).status == 404);
  CHECK(CreateGroup(http, alice, "ghosts", {"bob"})["members"].size() == 2);

  // Non-members: no sending, no history, no group details.
  HttpResponse send = SendTo(http, dave, "group:team", "d-1", json{{"text", "let me in"}});
  CHECK_MESSAGE(send.status == 403, send.Describe());
  CHECK(send.error_code() == "not_member");
  HttpResponse history = http.Get("/v1/conversations/g:team/messages", dave.token);
  CHECK_MESSAGE(history.status == 403, history.Describe());
  CHECK(history.error_code() == "not_member");
  HttpResponse details = http.Get("/v1/groups/team", dave.token);
  CHECK_MESSAGE(details.status == 403, details.Describe());
  CHECK(details.error_code() == "not_member");
  CHECK(AddMembers(http, dave, "team", {"dave"}).status == 403);

  // Unknown group: 404 everywhere.
  for (const HttpResponse& nf :
       {SendTo(http, alice, "group:nope", "n-1", json{{"text", "?"}}),
        http.Get("/v1/groups/nope", alice.token),
        http.Get("/v1/conversations/g:nope/messages", alice.token),
        AddMembers(http, alice, "nope", {"bob"}), RemoveMember(http, alice, "nope", "bob")}) {
    CHECK_MESSAGE(nf.status == 404, nf.Describe());
    CHECK(nf.error_code() == "not_found");
  }

  // A plain member can't add or remove others.
  HttpResponse add = AddMembers(http, bob, "team", {"dave"});
  CHECK_MESSAGE(add.status == 403, add.Describe());
  CHECK(add.error_code() == "forbidden");
  HttpResponse remove = RemoveMember(http, bob, "team", "carol");
  CHECK_MESSAGE(remove.status == 403, remove.Describe());
  CHECK(remove.error_code() == "forbidden");
  CHECK(Roles(http.Get("/v1/groups/team", alice.token).json).size() == 3);
  // The owner removing a non-member: 404.
  CHECK(RemoveMember(http, alice, "team", "dave").status == 404);

  // Members read the history, newest first.
  json t1 = SendToOk(http, bob, "group:team", "t1");
  json t2 = SendToOk(http, carol, "group:team", "t2");
  history = http.Get("/v1/conversations/g:team/messages", carol.token);
  REQUIRE_MESSAGE(history.status == 200, history.Describe());
  REQUIRE(history.json["items"].size() == 2);
  CHECK(history.json["items"][0]["id"] == t2["id"]);
  CHECK(history.json["items"][1]["id"] == t1["id"]);
  CHECK(history.json["has_more"] == false);

  // Anyone can leave; the owner leaving hands the group to the longest-standing member (bob,
  // who was there before carol).
  REQUIRE(AddMembers(http, alice, "team", {"dave"}).status == 200);
  HttpResponse leave = RemoveMember(http, dave, "team", "dave");
  CHECK_MESSAGE(leave.status == 204, leave.Describe());
  leave = RemoveMember(http, alice, "team", "alice");
  REQUIRE_MESSAGE(leave.status == 204, leave.Describe());
  got = http.Get("/v1/groups/team", bob.token);
  REQUIRE_MESSAGE(got.status == 200, got.Describe());
  CHECK(got.json["owner"] == "bob");
  CHECK(Roles(got.json) ==
        std::map<std::string, std::string>{{"bob", "owner"}, {"carol", "member"}});
  CHECK(http.Get("/v1/groups/team", alice.token).status == 403);
  // The new owner has the owner's rights.
  CHECK(AddMembers(http, bob, "team", {"erin"}).status == 200);
  CHECK(RemoveMember(http, bob, "team", "erin").status == 204);
  CHECK(AddMembers(http, carol, "team", {"erin"}).status == 403);
}

TEST_CASE(
    "groups: with --group-max-members 5, creating a bigger group is 400 and adding beyond it "
    "is 409") {
  TestStackOptions options;
  options.uplink_args = {"--group-max-members", "5"};
  TestStack stack(options);
  HttpClient http(stack.http_port());
  const std::vector<std::string> names = {"owner", "u1", "u2", "u3", "u4", "u5"};
  for (const std::string& u : names) Register(http, u);
  Login owner = LogIn(http, "owner", "phone");

  HttpResponse r =
      http.Post("/v1/groups",
                {{"group_id", "six"}, {"name", "six"}, {"members", {"u1", "u2", "u3", "u4", "u5"}}},
                owner.token);
  CHECK_MESSAGE(r.status == 400, r.Describe());
  CHECK(r.error_code() == "invalid_field");
  CHECK(http.Get("/v1/groups/six", owner.token).status == 404);

  json five = CreateGroup(http, owner, "five", {"u1", "u2", "u3", "u4"});
  CHECK(five["members"].size() == 5);
  r = AddMembers(http, owner, "five", {"u5"});
  CHECK_MESSAGE(r.status == 409, r.Describe());
  CHECK(r.error_code() == "conflict");
  CHECK(http.Get("/v1/groups/five", owner.token).json["members"].size() == 5);
  // Room again once someone leaves.
  Login u4 = LogIn(http, "u4", "phone");
  REQUIRE(RemoveMember(http, u4, "five", "u4").status == 204);
  CHECK(AddMembers(http, owner, "five", {"u5"}).status == 200);
}

TEST_CASE(
    "groups: a connected member's device is pushed the group message on its inbox topic with "
    "seq and conv_seq") {
  TestStack stack;
  HttpClient http(stack.http_port());
  for (const char* u : {"alice", "bob", "carol"}) Register(http, u);
  Login alice = LogIn(http, "alice", "phone");
  Login bob = LogIn(http, "bob", "phone");
  MqttDevice alice_phone(stack.mqtt()), bob_phone(stack.mqtt());
  ConnectDevice(alice_phone, alice, stack);
  ConnectDevice(bob_phone, bob, stack);

  CreateGroup(http, alice, "live", {"bob", "carol"});
  const json body = {{"text", "hello group"}, {"n", 7}};
  HttpResponse sent = SendTo(http, alice, "group:live", "g-1", body);
  REQUIRE_MESSAGE(sent.status == 201, sent.Describe());
  const json& reply = sent.json;
  CHECK(Keys(reply) == std::set<std::string>{"id", "conv", "conv_seq", "ts"});
  CHECK(reply["conv"] == "g:live");
  CHECK(reply["conv_seq"] == 1);

  REQUIRE_MESSAGE(WaitForSeq(bob_phone, bob.inbox(), 2), stack.AllLogTails());
  std::vector<json> pushes = PushesOn(bob_phone, bob.inbox());
  REQUIRE(pushes.size() == 2);
  CHECK(pushes[0]["seq"] == 1);
  CHECK(pushes[0]["event"] == "group.created");
  const json& push = pushes[1];
  CHECK(Keys(push) == kMessageEnvelopeKeys);
  CHECK(push["seq"] == 2);
  CHECK(push["type"] == "message");
  CHECK(push["id"] == reply["id"]);
  CHECK(push["conv"] == "g:live");
  CHECK(push["conv_seq"] == 1);
  CHECK(push["from"] == "alice");
  CHECK(push["to"] == "group:live");
  CHECK(push["cmid"] == "g-1");
  CHECK(push["kind"] == "text");
  CHECK(push["body"] == body);
  CHECK(push["ts"] == reply["ts"]);
  CHECK(SyncAll(http, bob) == pushes);
  CHECK(bob_phone.MessagesOn(bob.device_topic()).empty());

  // The sender's own devices get the sender's copy, with the sender's seq.
  REQUIRE(WaitForSeq(alice_phone, alice.inbox(), 2));
  std::vector<json> own = PushesOn(alice_phone, alice.inbox());
  REQUIRE(own.size() == 2);
  CHECK(own[1]["id"] == reply["id"]);
  CHECK(own[1]["conv_seq"] == 1);
}

}  // namespace
}  // namespace courier::testing

namespace courier::testing {

TEST_CASE(
    "groups: the owner makes a member an admin, who may then add members; every member hears "
    "of role changes, the owner's hand-over included") {
  TestStack stack;
  HttpClient http(stack.http_port());
  auto [alice, bob, carol, dave, erin] =
      RegisterAndLogIn(http, {"alice", "bob", "carol", "dave", "erin"});
  CreateGroup(http, alice, "crew", {"bob", "carol", "dave"});
  auto set_role = [&](const Login& by, const std::string& user, const std::string& role) {
    return http.Send("PATCH", "/v1/groups/crew/members/" + user, json{{"role", role}}.dump(),
                     "application/json", by.token);
  };

  HttpResponse promoted = set_role(alice, "bob", "admin");
  REQUIRE_MESSAGE(promoted.status == 200, promoted.Describe());
  CHECK(Roles(promoted.json) ==
        std::map<std::string, std::string>{
            {"alice", "owner"}, {"bob", "admin"}, {"carol", "member"}, {"dave", "member"}});
  // An admin adds; a member still can't.
  CHECK(AddMembers(http, bob, "crew", {"erin"}).status == 200);
  REQUIRE(RemoveMember(http, alice, "crew", "erin").status == 204);
  HttpResponse refused = AddMembers(http, carol, "crew", {"erin"});
  CHECK_MESSAGE(refused.status == 403, refused.Describe());

  // Only the owner sets roles, never their own; roles are admin or member; members only.
  for (auto [by, user, role, status] :
       std::vector<std::tuple<Login, std::string, std::string, int>>{
           {carol, "dave", "admin", 403},
           {bob, "carol", "admin", 403},
           {alice, "alice", "member", 403},
           {alice, "erin", "admin", 404},
           {alice, "carol", "owner", 400},
           {alice, "carol", "boss", 400},
           {erin, "carol", "admin", 403}}) {
    HttpResponse r = set_role(by, user, role);
    CAPTURE(r.Describe());
    CHECK(r.status == status);
  }
  CHECK(Roles(http.Get("/v1/groups/crew", alice.token).json)["carol"] == "member");

  // Setting the same role again changes nothing and tells nobody.
  CHECK(set_role(alice, "bob", "admin").status == 200);

  // The owner leaves: bob, the admin, is the heir although carol is as old a member.
  REQUIRE(RemoveMember(http, alice, "crew", "alice").status == 204);
  CHECK(http.Get("/v1/groups/crew", bob.token).json["owner"] == "bob");

  // carol's inbox, in order: created, bob made admin, erin added and removed, alice left,
  // bob made owner — exactly once each.
  auto items = SyncUntil(http, carol, [](const std::vector<json>& it) {
    return EventsOf(it, "group.role_changed").size() >= 2;
  });
  CHECK(EntryLabels(items) ==
        "group.created, group.role_changed, group.member_added, group.member_removed, "
        "group.member_left, group.role_changed");
  auto changes = EventsOf(items, "group.role_changed");
  REQUIRE(changes.size() == 2);
  CHECK(changes[0]["data"] ==
        json{{"group_id", "crew"}, {"user_id", "bob"}, {"role", "admin"}, {"by", "alice"}});
  CHECK(changes[1]["data"] ==
        json{{"group_id", "crew"}, {"user_id", "bob"}, {"role", "owner"}, {"by", "alice"}});
  CHECK(SeqsAreContiguousFromOne(items));
}

}  // namespace courier::testing
