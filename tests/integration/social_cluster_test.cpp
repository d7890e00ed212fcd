// The social operations on a Redis Cluster (issue #6): every script and command that friend
// requests and answers, unfriending, blocks, groups, rooms and sessions run touches one slot. The
// cluster here has one master holding every slot, which still answers CROSSSLOT to a command or
// script whose declared keys are in two slots, and — the scripts start with "#!lua" — refuses a
// script that reaches a key of another slot by name.
//
// Crashes between steps: a step is made to fail by taking the keys of its slot (or of one key
// prefix) away from Redis's default user with an ACL, which is how a node that is down, or an
// uplink that dies before the step, looks to the store: the steps before it are done, it and
// those after it are not. The operation is then retried whole — first while the fault lasts, to
// show that repeating the steps before it changes nothing, then after — and must end in the state
// of a run without the fault, with no notification twice.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/envelope.h"
#include "common/keys.h"
#include "common/redis_client.h"
#include "common/redis_message_store.h"
#include "common/redis_social_store.h"
#include "tests/support/process.h"
#include "tests/support/test_stack.h"

namespace courier::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr int64_t kNow = 1700000000000;

TestStackOptions OneMasterCluster() {
  TestStackOptions o;
  o.topology = Topology::kSingle;  // one redis-server, made a one-master cluster below
  o.start_broker = false;
  o.start_uplink = false;
  o.start_downlink = false;
  // The bus port must be set: the default (port + 10000) is out of range for high free ports.
  o.redis_args = {"--cluster-enabled",     "yes",
                  "--cluster-config-file", "nodes.conf",
                  "--cluster-port",        std::to_string(FreePort())};
  return o;
}

// A one-master Redis Cluster with the stores over it.
class Cluster {
 public:
  Cluster()
      : stack_(OneMasterCluster()),
        pool_(stack_.redis_config(), 4),
        messages_(&pool_, StorePolicy{}),
        social_(&pool_, StorePolicy{}) {
    auto added = stack_.RedisCommand({"CLUSTER", "ADDSLOTSRANGE", "0", "16383"});
    REQUIRE(added.ok());
    REQUIRE_MESSAGE(added->type == RedisValue::Type::kStatus, added->str);
    bool ok = false;
    for (int i = 0; i < 100 && !ok; ++i) {  // at most 10 s
      auto info = stack_.RedisCommand({"CLUSTER", "INFO"});
      ok = info.ok() && info->str.find("cluster_state:ok") != std::string::npos;
      if (!ok) std::this_thread::sleep_for(100ms);
    }
    REQUIRE_MESSAGE(ok, "the one-node cluster did not reach cluster_state:ok");
    // The test looks inside as a user of its own, whom the faults' ACLs leave alone.
    Command({"ACL", "SETUSER", "inspector", "on", ">inspector", "~*", "&*", "+@all"});
    auto c = RedisConnection::Connect(stack_.redis_config());
    REQUIRE(c.ok());
    inspector_ = std::move(*c);
    auto auth = inspector_->Command({"AUTH", "inspector", "inspector"});
    REQUIRE(auth.ok());
    REQUIRE(auth->type == RedisValue::Type::kStatus);
    // The cluster refuses what the stores must never send.
    auto cross = stack_.RedisCommand({"MGET", keys::User("alice"), keys::User("bob")});
    REQUIRE(cross.ok());
    REQUIRE(cross->str.rfind("CROSSSLOT", 0) == 0);
    auto by_name = stack_.RedisCommand(
        {"EVAL", "#!lua\nredis.call('GET', KEYS[1])\nreturn redis.call('GET', '{u:bob}:user')", "1",
         keys::User("alice")});
    REQUIRE(by_name.ok());
    REQUIRE(by_name->type == RedisValue::Type::kError);
  }

  RedisMessageStore& messages() { return messages_; }
  RedisSocialStore& social() { return social_; }

  // A registered user logged in on one device.
  Caller User(const std::string& name) {
    REQUIRE(messages_.CreateUser({name, "hash", name, kNow, "epoch-" + name}).ok());
    Caller c{name, "phone", name + "-s1", ""};
    auto opened = messages_.OpenSession(
        {name, c.device_id, "ios", c.session_id, kNow + 3600000, R"({"kicked":1})"});
    REQUIRE(opened.ok());
    return c;
  }

  RedisValue Command(const std::vector<std::string>& args) {
    auto r = inspector_ ? inspector_->Command(args) : stack_.RedisCommand(args);
    REQUIRE(r.ok());
    REQUIRE_MESSAGE(r->type != RedisValue::Type::kError, r->str);
    return std::move(*r);
  }

  // The default user (the stores') loses every key that starts with `prefix`: the keys allowed
  // are the complement of the prefix, one glob per character.
  void DenyKeysStartingWith(const std::string& prefix) {
    std::vector<std::string> acl = {"ACL", "SETUSER", "default", "resetkeys"};
    for (size_t i = 0; i < prefix.size(); ++i) {
      acl.push_back("~" + prefix.substr(0, i) + "[^" + prefix[i] + "]*");
    }
    Command(acl);
  }
  void AllowAllKeys() { Command({"ACL", "SETUSER", "default", "allkeys"}); }

  // Every key and its content, one line each, sorted. Stream entries of delivery and fan-out
  // streams carry server-made ids, so only their fields count; markers' TTLs don't count.
  std::string Snapshot(bool with_delivery = true) {
    std::vector<std::string> lines;
    for (const RedisValue& k : Command({"KEYS", "*"}).elements) {
      const std::string& key = k.str;
      const bool queue = key.rfind("{dq:", 0) == 0 || key.rfind("{fq:", 0) == 0;
      if (queue && !with_delivery) continue;
      std::string type = Command({"TYPE", key}).str;
      std::vector<std::string> parts;
      if (type == "string") {
        parts.push_back(Command({"GET", key}).str);
      } else if (type == "hash" || type == "set" || type == "zset") {
        RedisValue v = type == "hash"  ? Command({"HGETALL", key})
                       : type == "set" ? Command({"SMEMBERS", key})
                                       : Command({"ZRANGE", key, "0", "-1", "WITHSCORES"});
        size_t step = type == "set" ? 1 : 2;
        for (size_t i = 0; i + step - 1 < v.elements.size(); i += step) {
          parts.push_back(step == 1 ? v.elements[i].str
                                    : v.elements[i].str + "=" + v.elements[i + 1].str);
        }
        std::sort(parts.begin(), parts.end());
      } else if (type == "stream") {
        for (const RedisValue& e : Command({"XRANGE", key, "-", "+"}).elements) {
          std::string entry = queue ? "" : e.elements[0].str + ":";
          for (const RedisValue& f : e.elements[1].elements) entry += f.str + "|";
          parts.push_back(entry);
        }
      }
      std::string line = key + " " + type + " ";
      for (const auto& p : parts) line += "[" + p + "]";
      lines.push_back(line);
    }
    std::sort(lines.begin(), lines.end());
    std::ostringstream out;
    for (const auto& l : lines) out << l << "\n";
    return out.str();
  }

  // The envelopes in a user's inbox.
  std::vector<json> Inbox(const std::string& user) {
    std::vector<json> out;
    for (const RedisValue& e : Command({"XRANGE", keys::Inbox(user), "-", "+"}).elements) {
      out.push_back(json::parse(e.elements[1].elements[1].str));
    }
    return out;
  }
  // "event" of each notification in a user's inbox, comma-separated.
  std::string InboxEvents(const std::string& user) {
    std::string out;
    for (const json& e : Inbox(user)) out += (out.empty() ? "" : ",") + e.value("event", "msg");
    return out;
  }
  // The pushes queued for `user` ("k" = inbox), as their envelopes' "event".
  std::string Pushes(const std::string& user) {
    std::string out;
    std::string stream =
        keys::DeliveryStream(keys::DeliveryShard(user, StorePolicy{}.delivery_shards));
    for (const RedisValue& e : Command({"XRANGE", stream, "-", "+"}).elements) {
      std::map<std::string, std::string> f;
      const auto& kv = e.elements[1].elements;
      for (size_t i = 0; i + 1 < kv.size(); i += 2) f[kv[i].str] = kv[i + 1].str;
      if (f["u"] != user) continue;
      if (f["k"] == "inbox") {
        out += (out.empty() ? "" : ",") + json::parse(f["p"]).value("event", "msg");
      } else {
        out += (out.empty() ? "" : ",") + f["k"] + (f.count("s") ? ":" + f["s"] : "");
      }
    }
    return out;
  }

 private:
  TestStack stack_;
  RedisPool pool_;
  RedisMessageStore messages_;
  RedisSocialStore social_;
  std::unique_ptr<RedisConnection> inspector_;
};

Notice MakeNotice(const std::string& event, const json& data, int64_t now_ms,
                  const std::string& op = "") {
  return Notice{EncodeNotificationRest(event, data.dump(), now_ms), "epoch-n", now_ms, op};
}

FriendRequestInfo Request(const std::string& id, const std::string& from, int64_t ts) {
  return FriendRequestInfo{id, from, "hi", ts};
}

Result<std::string> AskFriend(Cluster& k, const Caller& from, const std::string& to,
                              const std::string& request_id, int64_t now = kNow) {
  return k.social().SendFriendRequest(
      from, to, Request(request_id, from.user_id, now),
      MakeNotice("friend.request", {{"request_id", request_id}, {"from", from.user_id}}, now));
}

Status Answer(Cluster& k, const Caller& by, const std::string& request_id, bool accept,
              int64_t now = kNow + 10) {
  return k.social().AnswerFriendRequest(
      by, request_id, accept,
      MakeNotice(accept ? "friend.accepted" : "friend.rejected",
                 {{"request_id", request_id}, {"user_id", by.user_id}}, now));
}

Status Unfriend(Cluster& k, const Caller& by, const std::string& other, const std::string& op) {
  return k.social().RemoveFriend(
      by, other, MakeNotice("friend.removed", {{"user_id", by.user_id}}, kNow + 20, op));
}

std::vector<std::pair<std::string, std::string>> Adds(const std::string& gid,
                                                      const std::vector<std::string>& users) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& u : users) {
    out.emplace_back(
        u, EncodeNotificationRest("group.member_added",
                                  json{{"group_id", gid}, {"user_id", u}}.dump(), kNow + 30));
  }
  return out;
}

NewGroup Group(const std::string& gid, const std::vector<std::string>& members) {
  NewGroup g;
  g.group_id = gid;
  g.name = "Group " + gid;
  g.members = members;
  g.created_rest =
      EncodeNotificationRest("group.created", json{{"group_id", gid}}.dump(), kNow + 25);
  g.now_ms = kNow + 25;
  return g;
}

TEST_CASE("social on a cluster: every friend, block, group, room and session operation runs") {
  Cluster k;
  Caller alice = k.User("alice"), bob = k.User("bob"), carol = k.User("carol"),
         dave = k.User("dave");

  // Friend request, repeat, answer; a crossed request; a rejection; unfriending.
  auto rid = AskFriend(k, alice, "bob", "R1");
  REQUIRE_MESSAGE(rid.ok(), rid.status().ToString());
  CHECK(*rid == "R1");
  std::string before = k.Snapshot();
  auto again = AskFriend(k, alice, "bob", "R2", kNow + 5);
  REQUIRE(again.ok());
  CHECK(*again == "R1");
  CHECK(k.Snapshot() == before);  // a repeat changes nothing
  auto pending = k.social().FriendRequests(bob);
  REQUIRE(pending.ok());
  REQUIRE(pending->size() == 1);
  CHECK((*pending)[0].from == "alice");
  CHECK(AskFriend(k, alice, "nobody", "R3").status().code() == Status::Code::kNotFound);
  REQUIRE(Answer(k, bob, "R1", true).ok());
  CHECK(Answer(k, bob, "R1", true).code() == Status::Code::kNotFound);  // answered
  CHECK(AskFriend(k, alice, "bob", "R4").status().code() == Status::Code::kConflict);
  auto friends = k.social().Friends(alice);
  REQUIRE(friends.ok());
  REQUIRE(friends->size() == 1);
  CHECK((*friends)[0].user_id == "bob");
  CHECK((*friends)[0].since_ms == kNow + 10);

  REQUIRE(AskFriend(k, carol, "alice", "R5").ok());
  auto crossed = AskFriend(k, alice, "carol", "R6");
  REQUIRE_MESSAGE(crossed.ok(), crossed.status().ToString());
  CHECK(*crossed == "R5");
  CHECK(k.social().Friends(carol)->size() == 1);
  CHECK(k.social().Friends(alice)->size() == 2);
  CHECK(k.social().FriendRequests(alice)->empty());

  REQUIRE(AskFriend(k, dave, "alice", "R7").ok());
  REQUIRE(Answer(k, alice, "R7", false).ok());
  CHECK(k.social().Friends(dave)->empty());

  REQUIRE(Unfriend(k, alice, "bob", "OP1").ok());
  CHECK(Unfriend(k, alice, "bob", "OP2").code() == Status::Code::kNotFound);
  CHECK(k.social().Friends(bob)->empty());
  CHECK(k.InboxEvents("alice") == "friend.accepted,friend.request,friend.request");
  CHECK(k.InboxEvents("bob") == "friend.request,friend.removed");
  CHECK(k.InboxEvents("carol") == "friend.accepted");
  CHECK(k.InboxEvents("dave") == "friend.rejected");
  CHECK(k.Pushes("bob") == "friend.request,friend.removed");

  // Blocks: a repeat changes nothing; a blocked user's request is refused.
  REQUIRE(k.social().SetBlocked(bob, "dave", true).ok());
  before = k.Snapshot();
  REQUIRE(k.social().SetBlocked(bob, "dave", true).ok());
  CHECK(k.Snapshot() == before);
  CHECK(k.social().SetBlocked(bob, "nobody", true).code() == Status::Code::kNotFound);
  CHECK(AskFriend(k, dave, "bob", "R8").status().code() == Status::Code::kBlocked);
  CHECK(*k.social().Blocks(bob) == std::vector<std::string>{"dave"});
  REQUIRE(k.social().SetBlocked(bob, "dave", false).ok());
  CHECK(k.social().Blocks(bob)->empty());

  // Groups: create, add (a repeat adds nothing), roles, removal, the owner leaving.
  REQUIRE(k.social().CreateGroup(alice, Group("g1", {"bob"})).ok());
  CHECK(k.social().CreateGroup(bob, Group("g1", {})).code() == Status::Code::kConflict);
  CHECK(k.social().CreateGroup(alice, Group("g2", {"nobody"})).code() == Status::Code::kNotFound);
  auto added = k.social().AddMembers(alice, "g1", Adds("g1", {"carol", "dave"}), 10);
  REQUIRE_MESSAGE(added.ok(), added.status().ToString());
  CHECK(*added == std::vector<std::string>{"carol", "dave"});
  added = k.social().AddMembers(alice, "g1", Adds("g1", {"carol"}), 10);
  REQUIRE(added.ok());
  CHECK(added->empty());
  CHECK(k.social().AddMembers(carol, "g1", Adds("g1", {"bob"}), 10).status().code() ==
        Status::Code::kForbidden);
  CHECK(k.social().AddMembers(alice, "g1", Adds("g1", {"nobody"}), 10).status().code() ==
        Status::Code::kNotFound);
  REQUIRE(k.social().SetRole(alice, "g1", "carol", "admin", kNow + 40).ok());
  before = k.Snapshot(false);
  REQUIRE(k.social().SetRole(alice, "g1", "carol", "admin", kNow + 41).ok());
  CHECK(k.Snapshot(false) == before);
  REQUIRE(k.social().RemoveMember(alice, "g1", "dave", "\"x\":1}", kNow + 50).ok());
  CHECK(k.social().RemoveMember(alice, "g1", "dave", "\"x\":1}", kNow + 51).code() ==
        Status::Code::kNotFound);
  REQUIRE(k.social().RemoveMember(alice, "g1", "alice", "\"x\":2}", kNow + 60).ok());
  auto group = k.social().GetGroup(bob, "g1");
  REQUIRE(group.ok());
  CHECK(group->owner == "carol");  // the admin inherits
  CHECK(group->members.size() == 2);
  auto membership = k.social().MembershipOf(bob, "g:g1");
  REQUIRE(membership.ok());
  CHECK(membership->member);
  // The feed holds every change; fan-out tasks were queued for them.
  CHECK(k.Command({"XLEN", keys::GroupFeed("g1")}).integer == 7);
  const std::string tasks = keys::FanoutStream(keys::DeliveryShard("g:g1", 4));
  CHECK(k.Command({"XLEN", tasks}).integer >= 6);

  // Rooms: join (twice: nothing changes), leave queues room_leave in the room's shard.
  REQUIRE(k.social().JoinRoom(bob, "lobby").ok());
  before = k.Snapshot();
  REQUIRE(k.social().JoinRoom(bob, "lobby").ok());
  CHECK(k.Snapshot() == before);
  CHECK(k.social().MembershipOf(bob, "r:lobby")->member);
  REQUIRE(k.social().LeaveRoom(bob, "lobby").ok());
  CHECK_FALSE(k.social().MembershipOf(bob, "r:lobby")->member);
  const std::string room_shard = keys::DeliveryStream(keys::DeliveryShard("r:lobby", 4));
  int roomctl = 0;  // the shard also carries users' pushes
  for (const RedisValue& e : k.Command({"XRANGE", room_shard, "-", "+"}).elements) {
    roomctl += e.elements[1].elements[1].str == "roomctl" ? 1 : 0;
  }
  CHECK(roomctl == 1);

  // Sessions: a second login on the platform replaces the first and kicks it; logout kicks.
  auto replaced = k.messages().OpenSession(
      {"carol", "tablet", "ios", "carol-s2", kNow + 3600000, R"({"kicked":2})"});
  REQUIRE(replaced.ok());
  CHECK(replaced->replaced_session_id == "carol-s1");
  CHECK(replaced->replaced_device_id == "phone");
  Caller carol2{"carol", "tablet", "carol-s2", ""};
  CHECK(k.social().Friends(carol).status().code() == Status::Code::kUnauthorized);
  REQUIRE(k.messages().CloseSession(carol2, R"({"kicked":3})").ok());
  CHECK(k.messages().CloseSession(carol2, R"({"kicked":3})").code() == Status::Code::kUnauthorized);
  CHECK(k.Pushes("carol") == "friend.accepted,control:carol-s1,control:carol-s2");
  CHECK(k.Command({"EXISTS", keys::KickOutbox("carol")}).integer == 0);
  CHECK(k.social().JoinRoom(carol2, "lobby").code() == Status::Code::kUnauthorized);
}

// Runs `op` while the keys starting with `deny` are refused (it must fail), again (repeating the
// steps before the failure must change nothing — pushes and tasks aside, which a repeat may
// queue twice — and it may then succeed, having found the work done), then with every key back.
// Returns the last result.
// A login is not repeated but made anew (a new session): `repeats` false skips that check.
template <typename Op>
auto CrashThenRetry(Cluster& k, const std::string& deny, Op op, bool repeats = true) {
  k.DenyKeysStartingWith(deny);
  auto first = op(1);
  CHECK_FALSE_MESSAGE(first.ok(), "denying " << deny << " did not fail the operation");
  std::string after_first = k.Snapshot(false);
  op(2);
  if (repeats) {
    CHECK_MESSAGE(k.Snapshot(false) == after_first,
                  "repeating the steps before " << deny << " changed state");
  }
  k.AllowAllKeys();
  return op(3);
}

Status StatusOf(const Status& s) { return s; }
template <typename T>
Status StatusOf(const Result<T>& r) {
  return r.status();
}

TEST_CASE("social on a cluster: a friend request and its acceptance survive a crash at any step") {
  // The state without a crash: alice asks bob, bob accepts.
  std::string clean_request, clean_request_state, clean_accepted;
  {
    Cluster k;
    Caller alice = k.User("alice"), bob = k.User("bob");
    REQUIRE(AskFriend(k, alice, "bob", "R1").ok());
    clean_request = k.Snapshot();
    clean_request_state = k.Snapshot(false);
    REQUIRE(Answer(k, bob, "R1", true).ok());
    clean_accepted = k.Snapshot();
  }
  // Each step of the request, then of the acceptance, fails once; the retry completes it.
  for (const std::string& deny : {std::string("{u:bob}"), std::string("{dq:")}) {
    CAPTURE(deny);
    Cluster k;
    Caller alice = k.User("alice"), bob = k.User("bob");
    // A retry is a new HTTP request with a new request id; it finds the first one's, if that
    // was recorded.
    const std::string id = deny == "{u:bob}" ? "R3" : "R1";
    auto r = CrashThenRetry(k, deny, [&](int attempt) {
      return AskFriend(k, alice, "bob", "R" + std::to_string(attempt));
    });
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    CHECK(*r == id);
    std::string state = k.Snapshot(false);
    for (size_t at = state.find(id); at != std::string::npos; at = state.find(id, at + 2)) {
      state.replace(at, id.size(), "R1");
    }
    CHECK(state == clean_request_state);
    CHECK(k.InboxEvents("bob") == "friend.request");
    // A crash before the push leaves the notification to sync: never pushed twice.
    CHECK(k.Pushes("bob") == (deny == "{dq:" ? "" : "friend.request"));
  }
  for (const std::string& deny : {std::string("{u:alice}"), std::string("{u:alice}:op:"),
                                  std::string("{dq:"), std::string("{u:bob}:op:")}) {
    CAPTURE(deny);
    Cluster k;
    Caller alice = k.User("alice"), bob = k.User("bob");
    REQUIRE(AskFriend(k, alice, "bob", "R1").ok());
    REQUIRE(k.Snapshot() == clean_request);
    Status s = StatusOf(CrashThenRetry(k, deny, [&](int) { return Answer(k, bob, "R1", true); }));
    REQUIRE_MESSAGE(s.ok(), s.ToString());
    CHECK(k.Snapshot() == clean_accepted);
    CHECK(k.InboxEvents("alice") == "friend.accepted");
    CHECK(k.Pushes("alice") == "friend.accepted");
    CHECK(Answer(k, bob, "R1", true).code() == Status::Code::kNotFound);
  }
}

TEST_CASE("social on a cluster: a crossed request and unfriending survive a crash at any step") {
  auto crossed_setup = [](Cluster& k) {
    Caller alice = k.User("alice"), bob = k.User("bob");
    REQUIRE(AskFriend(k, alice, "bob", "R1").ok());
    return bob;
  };
  std::string clean;
  {
    Cluster k;
    Caller bob = crossed_setup(k);
    REQUIRE(AskFriend(k, bob, "alice", "R2", kNow + 10).ok());
    clean = k.Snapshot(false);
    CHECK(k.Pushes("alice") == "friend.accepted");
  }
  // Steps: bob's slot (reads), alice's (friendship, then the notification), the push, bob's
  // (request consumed, friendship).
  for (const std::string& deny : {std::string("{u:alice}"), std::string("{u:alice}:op:"),
                                  std::string("{u:bob}:op:"), std::string("{dq:")}) {
    CAPTURE(deny);
    Cluster k;
    Caller bob = crossed_setup(k);
    auto r = CrashThenRetry(k, deny, [&](int attempt) {
      return AskFriend(k, bob, "alice", "R" + std::to_string(attempt + 1), kNow + 10);
    });
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    CHECK(*r == "R1");
    CHECK(k.Snapshot(false) == clean);
    CHECK(k.InboxEvents("alice") == "friend.accepted");
    // Pushed once, even when the last step failed and each try queued the push again: the
    // shard's push cursor (queue_pushes.lua) skips an entry already queued.
    CHECK(k.Pushes("alice") == "friend.accepted");
  }

  std::string clean_unfriended;
  {
    Cluster k;
    Caller alice = k.User("alice"), bob = k.User("bob");
    REQUIRE(AskFriend(k, alice, "bob", "R1").ok());
    REQUIRE(Answer(k, bob, "R1", true).ok());
    REQUIRE(Unfriend(k, alice, "bob", "OP1").ok());
    clean_unfriended = k.Snapshot();
  }
  for (const std::string& deny :
       {std::string("{u:bob}"), std::string("{u:bob}:op:"), std::string("{dq:")}) {
    CAPTURE(deny);
    Cluster k;
    Caller alice = k.User("alice"), bob = k.User("bob");
    REQUIRE(AskFriend(k, alice, "bob", "R1").ok());
    REQUIRE(Answer(k, bob, "R1", true).ok());
    Status s = StatusOf(CrashThenRetry(k, deny, [&](int attempt) {
      return Unfriend(k, alice, "bob", "OP" + std::to_string(attempt));
    }));
    REQUIRE_MESSAGE(s.ok(), s.ToString());
    CHECK(k.Snapshot() == clean_unfriended);
    CHECK(k.InboxEvents("bob") == "friend.request,friend.removed");
    CHECK(k.Pushes("bob") == "friend.request,friend.removed");
  }
}

TEST_CASE("social on a cluster: group changes, a room leave and sessions survive a crash") {
  auto setup = [](Cluster& k) {
    Caller alice = k.User("alice");
    k.User("bob");
    k.User("carol");
    REQUIRE(k.social().CreateGroup(alice, Group("g1", {"bob"})).ok());
    return alice;
  };
  std::string clean;
  {
    Cluster k;
    Caller alice = setup(k);
    REQUIRE(k.social().AddMembers(alice, "g1", Adds("g1", {"carol"}), 10).ok());
    clean = k.Snapshot();
  }
  for (const std::string& deny : {std::string("{c:g:g1}"), std::string("{fq:")}) {
    CAPTURE(deny);
    Cluster k;
    Caller alice = setup(k);
    auto r = CrashThenRetry(k, deny, [&](int) {
      return k.social().AddMembers(alice, "g1", Adds("g1", {"carol"}), 10);
    });
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    // One feed entry and one fan-out task for carol, as without the crash.
    CHECK(k.Snapshot() == clean);
  }

  // A group created, its fan-out task lost: the retry answers 409, as a repeat does, and queues
  // the task.
  {
    Cluster k;
    Caller alice = k.User("alice");
    k.User("bob");
    std::string tasks = keys::FanoutStream(keys::DeliveryShard("g:g1", 4));
    Status s = StatusOf(CrashThenRetry(
        k, "{fq:", [&](int) { return k.social().CreateGroup(alice, Group("g1", {"bob"})); }));
    CHECK(s.code() == Status::Code::kConflict);
    CHECK(k.Command({"XLEN", tasks}).integer == 1);
    CHECK(k.Command({"XLEN", keys::GroupFeed("g1")}).integer == 1);
  }

  // A room leave whose room_leave command was lost: the retry queues it.
  {
    Cluster k;
    Caller bob = k.User("bob");
    REQUIRE(k.social().JoinRoom(bob, "lobby").ok());
    Status s = StatusOf(
        CrashThenRetry(k, "{dq:", [&](int) { return k.social().LeaveRoom(bob, "lobby"); }));
    REQUIRE(s.ok());
    const std::string shard = keys::DeliveryStream(keys::DeliveryShard("r:lobby", 4));
    CHECK(k.Command({"XLEN", shard}).integer == 1);
    CHECK(k.Command({"SCARD", keys::RoomMembers("lobby")}).integer == 0);
  }

  // A login that replaced a session, and a logout, whose kicks were not queued: the retry (a new
  // login; the same logout, answered 401 as a repeat is) queues them, once each.
  {
    Cluster k;
    k.User("carol");  // session carol-s1 on the phone
    int n = 0;
    auto login = CrashThenRetry(
        k, "{dq:",
        [&](int) {
          return k.messages().OpenSession({"carol", "tablet", "ios",
                                           "carol-t" + std::to_string(++n), kNow + 3600000,
                                           R"({"kicked":1})"});
        },
        /*repeats=*/false);
    REQUIRE(login.ok());
    // carol-s1 was kicked (told: another device); carol-t1 and -t2 were the tablet's own tries.
    CHECK(k.Pushes("carol") == "control:carol-s1,control:carol-t1,control:carol-t2");
    CHECK(k.Command({"EXISTS", keys::KickOutbox("carol")}).integer == 0);
    Caller tablet{"carol", "tablet", "carol-t3", ""};
    Status out = StatusOf(CrashThenRetry(
        k, "{dq:", [&](int) { return k.messages().CloseSession(tablet, R"({"kicked":2})"); }));
    CHECK(out.code() == Status::Code::kUnauthorized);
    CHECK(k.Pushes("carol") ==
          "control:carol-s1,control:carol-t1,control:carol-t2,control:carol-t3");
    CHECK(k.Command({"EXISTS", keys::KickOutbox("carol")}).integer == 0);
  }
}

// ---- Sends (common/redis_sends.*) --------------------------------------------------------

// Attempt `attempt` of alice's one-to-one send with cmid "c1" to `to`: a new request each time
// (new message id and ts, the same cmid), each after the previous one's lease.
DirectSend SendAttempt(const Caller& alice, const std::string& to, int attempt) {
  Message m;
  m.id = "M" + std::to_string(attempt);
  m.conv = DirectConversation("alice", to);
  m.from = "alice";
  m.to = "user:" + to;
  m.cmid = "c1";
  m.kind = "text";
  m.body_json = R"({"text":"hi"})";
  m.ts = kNow + attempt * 10000;
  return DirectSend{alice, to, "c1", m, EncodeMessageParts(m), "epoch-" + to, "epoch-alice"};
}

// The state without what legitimately differs between a clean run and a crashed one: the rate
// bucket's refill time (a token is taken by the attempt that opened the send).
std::string StateOf(Cluster& k) {
  std::istringstream in(k.Snapshot(false));
  std::string out, line;
  while (std::getline(in, line)) {
    if (line.find("}:rate ") == std::string::npos) out += line + "\n";
  }
  return out;
}

TEST_CASE("sends on a cluster: a one-to-one send survives a crash at any step, once, in order") {
  std::string clean;
  {
    Cluster k;
    Caller alice = k.User("alice");
    k.User("bob");
    auto r = k.messages().SendDirect(SendAttempt(alice, "bob", 1), kNow + 10000);
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    CHECK(r->conv_seq == 1);
    CHECK_FALSE(r->duplicate);
    clean = StateOf(k);
    CHECK(k.Pushes("bob") == "msg");
    CHECK(k.Pushes("alice") == "msg");
  }
  // Each step fails once: the cmid record (begin), the recipient check read in begin's round
  // trip (the record is open then), the history (conversation's slot), bob's inbox copy,
  // alice's, the pushes, the recall index (in the pushes' round trip), the record's close.
  for (const std::string& deny :
       {std::string("{u:alice}:cmid"), std::string("{u:bob}:user"), std::string("{c:"),
        std::string("{u:bob}:fanin"), std::string("{u:alice}:fanin"), std::string("{dq:"),
        std::string("{m:")}) {
    CAPTURE(deny);
    Cluster k;
    Caller alice = k.User("alice");
    k.User("bob");
    k.DenyKeysStartingWith(deny);
    auto first = k.messages().SendDirect(SendAttempt(alice, "bob", 1), kNow + 10000);
    CHECK_FALSE_MESSAGE(first.ok(), "denying " << deny << " did not fail the send");
    k.AllowAllKeys();
    // The retry: a new request with the same cmid, after the first one's lease.
    auto r = k.messages().SendDirect(SendAttempt(alice, "bob", 2), kNow + 20000);
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    CHECK(r->id == (deny == "{u:alice}:cmid" ? "M2" : "M1"));  // the first request's message
    CHECK(r->conv_seq == 1);
    if (deny == "{u:alice}:cmid") continue;  // nothing was opened: a new send, not the same state
    CHECK(StateOf(k) == clean);
    // Once in each inbox, and pushed once each (a push the first request did not queue is
    // queued by the retry).
    CHECK(k.InboxEvents("bob") == "msg");
    CHECK(k.InboxEvents("alice") == "msg");
    CHECK(k.Pushes("bob") == "msg");
    CHECK(k.Pushes("alice") == "msg");
    // A third request gets the same answer and writes nothing.
    auto again = k.messages().SendDirect(SendAttempt(alice, "bob", 3), kNow + 30000);
    REQUIRE(again.ok());
    CHECK(again->duplicate);
    CHECK(again->id == "M1");
    CHECK(StateOf(k) == clean);
  }
}

TEST_CASE(
    "sends on a cluster: an abandoned send is copied into both inboxes, in order, by the next") {
  // alice's first send stops after its history entry (bob's inbox refused); she never retries
  // it. Her next message to bob copies both, in conv_seq order, into both inboxes.
  Cluster k;
  Caller alice = k.User("alice");
  k.User("bob");
  k.DenyKeysStartingWith("{u:bob}:fanin");
  CHECK_FALSE(k.messages().SendDirect(SendAttempt(alice, "bob", 1), kNow + 10000).ok());
  k.AllowAllKeys();
  DirectSend next = SendAttempt(alice, "bob", 2);
  next.cmid = "c2";
  next.message.cmid = "c2";
  next.parts = EncodeMessageParts(next.message);
  auto r = k.messages().SendDirect(next, kNow + 20000);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  CHECK(r->conv_seq == 2);
  for (const std::string user : {"alice", "bob"}) {
    CAPTURE(user);
    std::vector<json> inbox = k.Inbox(user);
    REQUIRE(inbox.size() == 2);
    CHECK(inbox[0]["conv_seq"] == 1);
    CHECK(inbox[0]["id"] == "M1");
    CHECK(inbox[1]["conv_seq"] == 2);
    CHECK(inbox[1]["seq"] == 2);
    CHECK(k.Pushes(user) == "msg,msg");
  }
}

TEST_CASE("sends on a cluster: group and room sends refused by membership leave nothing") {
  Cluster k;
  Caller alice = k.User("alice");
  Caller bob = k.User("bob");
  REQUIRE(k.social().CreateGroup(alice, Group("g1", {})).ok());
  Message m;
  m.id = "G1";
  m.conv = "g:g1";
  m.from = "bob";
  m.to = "group:g1";
  m.cmid = "c9";
  m.kind = "text";
  m.body_json = "{}";
  m.ts = kNow;
  auto r = k.social().SendGroup({bob, "g1", "c9", m, EncodeMessageParts(m)}, kNow);
  CHECK(r.status().code() == Status::Code::kNotMember);
  m.conv = "r:lobby";
  m.to = "room:lobby";
  r = k.social().SendRoom({bob, "lobby", "c9", m, EncodeMessageParts(m)}, kNow);
  CHECK(r.status().code() == Status::Code::kNotMember);
  // Not even the cmid record (the refused send can be made again once bob is a member).
  CHECK(k.Snapshot().find("{u:bob}:cmid") == std::string::npos);
  m.conv = "g:g1";
  m.to = "group:g1";
  auto ok = k.social().SendGroup({alice, "g1", "c9", m, EncodeMessageParts(m)}, kNow);
  REQUIRE_MESSAGE(ok.ok(), ok.status().ToString());
  CHECK(ok->conv_seq == 1);
}

}  // namespace
}  // namespace courier::testing
