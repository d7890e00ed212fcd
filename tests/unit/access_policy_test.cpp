// The broker plugin's pure logic (downlink/broker_plugin): CONNECT decisions, topic ACLs (rooms
// included), control commands, options, the registry of connected clients and their readable
// rooms, and the Redis commands whose formats the plugin shares with uplink and downlink.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/jwt.h"
#include "common/keys.h"
#include "downlink/broker_plugin/access_policy.h"
#include "downlink/broker_plugin/client_registry.h"
#include "downlink/broker_plugin/control_command.h"
#include "downlink/broker_plugin/log_text.h"
#include "downlink/broker_plugin/plugin_options.h"
#include "downlink/broker_plugin/redis_commands.h"

namespace courier::broker {
namespace {

constexpr int64_t kNow = 1'764'892'800;  // seconds since the Unix epoch
const std::string kSecret = "test-secret-0123456789";
const std::string kOldSecret = "previous-secret-9876543210";

TokenClaims DeviceClaims(std::string user = "alice", std::string device = "phone") {
  TokenClaims c;
  c.user_id = std::move(user);
  c.device_id = std::move(device);
  c.session_id = "s1";
  c.platform = "cli";
  c.issued_at = kNow - 10;
  c.expires_at = kNow + 3600;
  return c;
}

TokenClaims ServiceClaims(std::string user = "courier-service") {
  TokenClaims c;
  c.user_id = std::move(user);
  c.role = "service";
  c.issued_at = kNow - 10;
  c.expires_at = kNow + 3600;
  return c;
}

std::string Sign(const TokenClaims& claims, const std::string& secret = kSecret) {
  return JwtCodec({secret}).Sign(claims);
}

AccessPolicy MakePolicy(std::vector<std::string> secrets = {kSecret}) {
  return AccessPolicy(PolicyConfig{}, JwtCodec(std::move(secrets)));
}

ClientIdentity Device(std::string user = "alice", std::string device = "phone") {
  ClientIdentity id;
  id.kind = ClientIdentity::Kind::kDevice;
  id.client_id = user + ":" + device;
  id.user_id = std::move(user);
  id.device_id = std::move(device);
  id.session_id = "s1";
  id.expires_at_s = kNow + 3600;
  return id;
}

ClientIdentity Service() {
  ClientIdentity id;
  id.kind = ClientIdentity::Kind::kService;
  id.client_id = "downlink-1";
  id.user_id = "courier-service";
  return id;
}

// Writes `content` to a fresh file under /tmp and removes it when the test ends.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char name[] = "/tmp/courier_access_policy_test_XXXXXX";
    int fd = mkstemp(name);
    REQUIRE(fd >= 0);
    close(fd);
    path_ = name;
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

TEST_SUITE("broker access policy: connect") {
  TEST_CASE("a device with a good token, username and client id is let in") {
    auto r = MakePolicy().Authenticate("alice:phone", "alice", Sign(DeviceClaims()), kNow);
    REQUIRE(r.ok());
    CHECK(r->kind == ClientIdentity::Kind::kDevice);
    CHECK(r->client_id == "alice:phone");
    CHECK(r->user_id == "alice");
    CHECK(r->device_id == "phone");
    CHECK(r->session_id == "s1");
    CHECK(r->expires_at_s == DeviceClaims().expires_at);
  }

  TEST_CASE("a device is refused when username or client id disagree with the token") {
    AccessPolicy policy = MakePolicy();
    std::string token = Sign(DeviceClaims());
    CHECK_FALSE(policy.Authenticate("alice:phone", "bob", token, kNow).ok());
    CHECK_FALSE(policy.Authenticate("alice:phone", "Alice", token, kNow).ok());
    CHECK_FALSE(policy.Authenticate("alice:laptop", "alice", token, kNow).ok());
    CHECK_FALSE(policy.Authenticate("bob:phone", "alice", token, kNow).ok());
    CHECK_FALSE(policy.Authenticate("alice:phone:x", "alice", token, kNow).ok());
    CHECK_FALSE(policy.Authenticate("alice:phon", "alice", token, kNow).ok());
    CHECK_FALSE(policy.Authenticate("alicephone", "alice", token, kNow).ok());
    CHECK_FALSE(policy.Authenticate("", "alice", token, kNow).ok());
    auto r = policy.Authenticate("alice:laptop", "alice", token, kNow);
    CHECK(r.status().code() == Status::Code::kUnauthorized);
    CHECK(r.status().message().find("client id") != std::string::npos);
  }

  TEST_CASE("expired, foreign-signed and malformed tokens are refused") {
    AccessPolicy policy = MakePolicy();
    TokenClaims expired = DeviceClaims();
    expired.expires_at = kNow;
    CHECK_FALSE(policy.Authenticate("alice:phone", "alice", Sign(expired), kNow).ok());
    CHECK_FALSE(
        policy.Authenticate("alice:phone", "alice", Sign(DeviceClaims(), "other"), kNow).ok());
    for (const std::string& bad : std::vector<std::string>{
             "", ".", "..", "a.b.c", "not a token", "eyJ.eyJ.", "\xff\xfe.\x01.\x02",
             std::string(100000, 'A'), std::string(4000, '.')}) {
      auto r = policy.Authenticate("alice:phone", "alice", bad, kNow);
      CHECK_FALSE(r.ok());
      CHECK(r.status().code() == Status::Code::kUnauthorized);
    }
    std::string token = Sign(DeviceClaims());
    token[token.size() / 2] = token[token.size() / 2] == 'A' ? 'B' : 'A';
    CHECK_FALSE(policy.Authenticate("alice:phone", "alice", token, kNow).ok());
  }

  TEST_CASE("missing username or password is refused, huge ones too") {
    AccessPolicy policy = MakePolicy();
    std::string token = Sign(DeviceClaims());
    CHECK_FALSE(policy.Authenticate("alice:phone", "", token, kNow).ok());
    CHECK_FALSE(policy.Authenticate("alice:phone", "alice", "", kNow).ok());
    CHECK_FALSE(policy.Authenticate("alice:phone", std::string(70000, 'a'), token, kNow).ok());
    CHECK_FALSE(policy.Authenticate(std::string(70000, 'a'), "alice", token, kNow).ok());
  }

  TEST_CASE("during a rotation tokens of both secrets verify") {
    AccessPolicy policy = MakePolicy({kSecret, kOldSecret});
    CHECK(policy.Authenticate("alice:phone", "alice", Sign(DeviceClaims(), kSecret), kNow).ok());
    CHECK(policy.Authenticate("alice:phone", "alice", Sign(DeviceClaims(), kOldSecret), kNow).ok());
    CHECK_FALSE(
        policy.Authenticate("alice:phone", "alice", Sign(DeviceClaims(), "third"), kNow).ok());
  }

  TEST_CASE("the service account connects with any client id") {
    auto r =
        MakePolicy().Authenticate("downlink-1", "courier-service", Sign(ServiceClaims()), kNow);
    REQUIRE(r.ok());
    CHECK(r->is_service());
    CHECK(r->user_id == "courier-service");
    CHECK(r->client_id == "downlink-1");
  }

  TEST_CASE("a service token works only for the configured service user") {
    AccessPolicy policy = MakePolicy();
    // Another user holding a service-role token: not the service.
    CHECK_FALSE(policy.Authenticate("x", "mallory", Sign(ServiceClaims("mallory")), kNow).ok());
    // The service token presented under another username.
    CHECK_FALSE(policy.Authenticate("x", "alice", Sign(ServiceClaims()), kNow).ok());
    // A configured root and user elsewhere.
    AccessPolicy other(PolicyConfig{"acme", "svc"}, JwtCodec({kSecret}));
    CHECK_FALSE(other.Authenticate("x", "courier-service", Sign(ServiceClaims()), kNow).ok());
    CHECK(other.Authenticate("x", "svc", Sign(ServiceClaims("svc")), kNow).ok());
  }

  TEST_CASE("a device token for a user named like the service account stays a device") {
    auto r = MakePolicy().Authenticate("courier-service:phone", "courier-service",
                                       Sign(DeviceClaims("courier-service")), kNow);
    REQUIRE(r.ok());
    CHECK_FALSE(r->is_service());
  }

  TEST_CASE("an unknown role is refused") {
    TokenClaims c = ServiceClaims();
    c.role = "admin";
    CHECK_FALSE(MakePolicy().Authenticate("x", "courier-service", Sign(c), kNow).ok());
  }
}

TEST_SUITE("broker access policy: topics") {
  TEST_CASE("a device subscribes to exactly its inbox and device topic") {
    AccessPolicy policy = MakePolicy();
    ClientIdentity alice = Device();
    CHECK(policy.CheckSubscribe(alice, "courier/u/alice").allowed);
    CHECK(policy.CheckSubscribe(alice, "courier/d/alice/phone").allowed);
    for (const char* denied : {"courier/u/bob",
                               "courier/d/alice/laptop",
                               "courier/d/bob/phone",
                               "courier/u/+",
                               "courier/u/#",
                               "courier/#",
                               "#",
                               "+/u/alice",
                               "courier/d/alice/+",
                               "courier/d/+/phone",
                               "courier/u/alice/#",
                               "courier/u/alice/x",
                               "courier/u/alic",
                               "courier/u/alice2",
                               "courier/u/",
                               "courier/u",
                               "courier",
                               "",
                               "/courier/u/alice",
                               "courier//u/alice",
                               "Courier/u/alice",
                               "other/u/alice",
                               "courier/r/+",
                               "$share/g/courier/u/alice",
                               "$SYS/#",
                               "$CONTROL/courier/v1",
                               "courier/d/alice/phone/x",
                               "courier/d/alice"}) {
      INFO(denied);
      CHECK_FALSE(policy.CheckSubscribe(alice, denied).allowed);
    }
  }

  TEST_CASE("deny reasons say why") {
    AccessPolicy policy = MakePolicy();
    ClientIdentity alice = Device();
    CHECK(policy.CheckSubscribe(alice, "courier/#").reason.find("wildcard") !=
          std::string_view::npos);
    CHECK(policy.CheckSubscribe(alice, "courier/r/lobby").reason.find("member") !=
          std::string_view::npos);
    CHECK(policy.CheckSubscribe(alice, "courier/r/a/b").reason.find("room") !=
          std::string_view::npos);
    CHECK(policy.CheckSubscribe(alice, "courier/u/bob").reason.find("own") !=
          std::string_view::npos);
    CHECK(policy.CheckSubscribe(alice, "courier/u/alice").reason.empty());
  }

  TEST_CASE("devices never publish; the service publishes anywhere") {
    AccessPolicy policy = MakePolicy();
    for (const char* topic : {"courier/u/alice", "courier/d/alice/phone", "courier/u/bob",
                              "courier/r/lobby", "$CONTROL/courier/v1", "anything"}) {
      INFO(topic);
      CHECK_FALSE(policy.CheckPublish(Device(), topic).allowed);
      CHECK(policy.CheckPublish(Service(), topic).allowed);
    }
  }

  TEST_CASE("a device receives only its own topics") {
    AccessPolicy policy = MakePolicy();
    ClientIdentity alice = Device();
    CHECK(policy.CheckRead(alice, "courier/u/alice").allowed);
    CHECK(policy.CheckRead(alice, "courier/d/alice/phone").allowed);
    CHECK_FALSE(policy.CheckRead(alice, "courier/u/bob").allowed);
    CHECK_FALSE(policy.CheckRead(alice, "courier/d/alice/laptop").allowed);
    CHECK_FALSE(policy.CheckRead(alice, "courier/r/lobby").allowed);
    CHECK_FALSE(policy.CheckRead(alice, "").allowed);
    CHECK(policy.CheckRead(Service(), "courier/u/bob").allowed);
    CHECK(policy.CheckSubscribe(Service(), "courier/#").allowed);
  }

  TEST_CASE("the topic root is configuration, and may have several levels") {
    AccessPolicy policy(PolicyConfig{"acme/im", "svc"}, JwtCodec({kSecret}));
    ClientIdentity alice = Device();
    CHECK(policy.CheckSubscribe(alice, "acme/im/u/alice").allowed);
    CHECK(policy.CheckSubscribe(alice, "acme/im/d/alice/phone").allowed);
    CHECK_FALSE(policy.CheckSubscribe(alice, "courier/u/alice").allowed);
    CHECK_FALSE(policy.CheckSubscribe(alice, "acme/u/alice").allowed);
    CHECK(policy.InboxTopic("alice") == "acme/im/u/alice");
    CHECK(policy.DeviceTopic("alice", "phone") == "acme/im/d/alice/phone");
  }

  TEST_CASE("a device's room subscription waits for the membership check") {
    AccessPolicy policy = MakePolicy();
    ClientIdentity alice = Device();
    AclDecision lobby = policy.CheckSubscribe(alice, "courier/r/lobby");
    CHECK_FALSE(lobby.allowed);  // fail-safe until the caller found the user in the member set
    CHECK(lobby.needs_room_membership());
    CHECK(lobby.room_id == "lobby");
    AclDecision odd = policy.CheckSubscribe(alice, "courier/r/A-z_0.9");
    CHECK(odd.needs_room_membership());
    CHECK(odd.room_id == "A-z_0.9");
    CHECK(policy.CheckSubscribe(alice, "courier/r/" + std::string(64, 'r')).room_id.size() == 64);

    // Wildcards, $share, malformed room ids and other levels: denied outright, Redis not asked.
    for (const std::string& denied : std::vector<std::string>{
             "courier/r/+", "courier/r/#", "courier/#", "courier/+/lobby", "+/r/lobby", "#",
             "courier/r/", "courier/r", "courier/r/lobby/x", "courier/r/lobby/", "courier/r//lobby",
             "courier/r/bad room", "courier/r/caf\xc3\xa9", "courier/r/" + std::string(65, 'r'),
             "$share/g/courier/r/lobby", "other/r/lobby", "courier/R/lobby", "/courier/r/lobby"}) {
      INFO(denied);
      AclDecision d = policy.CheckSubscribe(alice, denied);
      CHECK_FALSE(d.allowed);
      CHECK_FALSE(d.needs_room_membership());
    }
    // The service account reads rooms without being a member.
    AclDecision service = policy.CheckSubscribe(Service(), "courier/r/lobby");
    CHECK(service.allowed);
    CHECK_FALSE(service.needs_room_membership());
    // Own topics never need a membership check.
    CHECK_FALSE(policy.CheckSubscribe(alice, "courier/u/alice").needs_room_membership());
  }

  TEST_CASE("room topics") {
    AccessPolicy policy = MakePolicy();
    CHECK(policy.RoomOfTopic("courier/r/lobby") == "lobby");
    CHECK(policy.RoomOfTopic("courier/r/+").empty());
    CHECK(policy.RoomOfTopic("courier/r/").empty());
    CHECK(policy.RoomOfTopic("courier/r/a/b").empty());
    CHECK(policy.RoomOfTopic("courier/u/lobby").empty());
    CHECK(policy.RoomOfTopic("").empty());
    CHECK(policy.RoomTopic("lobby") == "courier/r/lobby");
    AccessPolicy acme(PolicyConfig{"acme/im", "svc"}, JwtCodec({kSecret}));
    CHECK(acme.RoomOfTopic("acme/im/r/lobby") == "lobby");
    CHECK(acme.RoomOfTopic("courier/r/lobby").empty());
    CHECK(acme.RoomTopic("lobby") == "acme/im/r/lobby");
    CHECK(acme.CheckSubscribe(Device(), "acme/im/r/lobby").room_id == "lobby");
    CHECK_FALSE(acme.CheckSubscribe(Device(), "courier/r/lobby").needs_room_membership());
  }

  TEST_CASE("a device receives a room's messages only while the room is in its readable set") {
    AccessPolicy policy = MakePolicy();
    ClientIdentity alice = Device();
    RoomSet rooms = {"lobby", "games"};
    CHECK(policy.CheckRead(alice, "courier/r/lobby", rooms).allowed);
    CHECK(policy.CheckRead(alice, "courier/r/games", rooms).allowed);
    CHECK_FALSE(policy.CheckRead(alice, "courier/r/kitchen", rooms).allowed);
    CHECK_FALSE(policy.CheckRead(alice, "courier/r/lobby").allowed);  // no readable rooms
    CHECK_FALSE(policy.CheckRead(alice, "courier/r/lobby", RoomSet{}).allowed);
    CHECK_FALSE(policy.CheckRead(alice, "courier/r/lobby/x", rooms).allowed);
    CHECK_FALSE(policy.CheckRead(alice, "courier/r/", RoomSet{""}).allowed);
    CHECK_FALSE(policy.CheckRead(alice, "other/r/lobby", rooms).allowed);
    // Readable rooms open nothing else.
    CHECK_FALSE(policy.CheckRead(alice, "courier/u/bob", rooms).allowed);
    CHECK(policy.CheckRead(alice, "courier/u/alice", rooms).allowed);
    CHECK(policy.CheckRead(alice, "courier/r/lobby", rooms).reason.empty());
    CHECK(policy.CheckRead(alice, "courier/r/kitchen", rooms).reason.find("room") !=
          std::string_view::npos);
    CHECK(policy.CheckRead(Service(), "courier/r/kitchen").allowed);
  }

  TEST_CASE("topic roots") {
    CHECK(IsValidTopicRoot("courier"));
    CHECK(IsValidTopicRoot("acme/im"));
    CHECK_FALSE(IsValidTopicRoot(""));
    CHECK_FALSE(IsValidTopicRoot("/courier"));
    CHECK_FALSE(IsValidTopicRoot("courier/"));
    CHECK_FALSE(IsValidTopicRoot("cour+ier"));
    CHECK_FALSE(IsValidTopicRoot("#"));
    CHECK_FALSE(IsValidTopicRoot(std::string("a\0b", 3)));
  }

  TEST_CASE("device client ids") {
    CHECK(DeviceClientId("alice", "phone") == "alice:phone");
    std::string user, device;
    CHECK(ParseDeviceClientId("alice:phone", &user, &device));
    CHECK(user == "alice");
    CHECK(device == "phone");
    for (const char* bad : {"alice", "alice:", ":phone", "alice:phone:x", "al ice:phone", ""}) {
      INFO(bad);
      CHECK_FALSE(ParseDeviceClientId(bad, &user, &device));
    }
  }
}

TEST_SUITE("broker control commands") {
  ControlCommand KickCommand(std::string client_id, std::string session_id) {
    ControlCommand c;
    c.op = ControlCommand::Op::kKick;
    c.client_id = std::move(client_id);
    c.session_id = std::move(session_id);
    return c;
  }

  TEST_CASE("a room leave names a user and a room") {
    auto r = ParseControlCommand(R"({"op":"room_leave","user_id":"alice","room_id":"lobby"})");
    REQUIRE(r.ok());
    CHECK(r->op == ControlCommand::Op::kRoomLeave);
    CHECK(r->user_id == "alice");
    CHECK(r->room_id == "lobby");
    CHECK(r->client_id.empty());
    CHECK(r->session_id.empty());
    // Unknown fields are ignored, as for a kick.
    auto extra = ParseControlCommand(
        R"({"room_id":"r.1","op":"room_leave","user_id":"bob_2","ts":1,"client_id":"x"})");
    REQUIRE(extra.ok());
    CHECK(extra->op == ControlCommand::Op::kRoomLeave);
    CHECK(extra->user_id == "bob_2");
    CHECK(extra->room_id == "r.1");
  }

  TEST_CASE("a room leave without valid ids is an error naming the field") {
    const std::pair<std::string, std::string> bad[] = {
        {R"({"op":"room_leave","room_id":"lobby"})", "user_id"},
        {R"({"op":"room_leave","user_id":"alice"})", "room_id"},
        {R"({"op":"room_leave","user_id":"","room_id":"lobby"})", "user_id"},
        {R"({"op":"room_leave","user_id":"alice","room_id":""})", "room_id"},
        {R"({"op":"room_leave","user_id":7,"room_id":"lobby"})", "user_id"},
        {R"({"op":"room_leave","user_id":"alice","room_id":null})", "room_id"},
        {R"({"op":"room_leave","user_id":"al ice","room_id":"lobby"})", "user_id"},
        {R"({"op":"room_leave","user_id":"alice","room_id":"a/b"})", "room_id"},
        {R"({"op":"room_leave","user_id":"alice","room_id":"+"})", "room_id"},
        {R"({"op":"room_leave","user_id":"alice:phone","room_id":"lobby"})", "user_id"},
        {R"({"op":"room_leave","user_id":"alice","room_id":")" + std::string(65, 'r') + "\"}",
         "room_id"},
        {R"({"op":"room_leave","user_id":["alice"],"room_id":"lobby"})", "user_id"},
    };
    for (const auto& [payload, field] : bad) {
      INFO(payload);
      Result<ControlCommand> r = Status::Internal("unset");
      CHECK_NOTHROW(r = ParseControlCommand(payload));
      CHECK_FALSE(r.ok());
      CHECK(r.status().code() == Status::Code::kInvalidField);
      CHECK(r.status().message().find(field) != std::string::npos);
    }
    CHECK_FALSE(ParseControlCommand(R"({"op":"ROOM_LEAVE","user_id":"a","room_id":"r"})").ok());
    CHECK_FALSE(ParseControlCommand(R"({"op":"room-leave","user_id":"a","room_id":"r"})").ok());
  }

  TEST_CASE("a kick names a device client id") {
    auto r = ParseControlCommand(R"({"op":"kick","client_id":"alice:phone"})");
    REQUIRE(r.ok());
    CHECK(r->op == ControlCommand::Op::kKick);
    CHECK(r->client_id == "alice:phone");
  }

  TEST_CASE("a kick may name the session it ends; other fields are ignored") {
    auto r = ParseControlCommand(
        R"({"op":"kick","client_id":"alice:phone","session_id":"s1","reason":"logout"})");
    REQUIRE(r.ok());
    CHECK(r->client_id == "alice:phone");
    CHECK(r->session_id == "s1");
    CHECK_FALSE(ParseControlCommand(R"({"op":"kick","client_id":"a:b","session_id":7})").ok());
    CHECK_FALSE(ParseControlCommand(R"({"op":"kick","client_id":"a:b","session_id":""})").ok());
    CHECK_FALSE(ParseControlCommand(R"({"op":"kick","client_id":"a:b","session_id":"s 1"})").ok());
  }

  TEST_CASE("a kick for an ended session spares a device that logged in again") {
    ControlCommand kick = KickCommand("alice:phone", "s1");
    ClientIdentity on_s1 = Device();
    ClientIdentity on_s2 = Device();
    on_s2.session_id = "s2";
    CHECK(DecideKick(kick, &on_s1) == KickDecision::kKick);
    CHECK(DecideKick(kick, &on_s2) == KickDecision::kOtherSession);
    CHECK(DecideKick(kick, nullptr) == KickDecision::kNotConnected);
    ControlCommand any_session = KickCommand("alice:phone", "");
    CHECK(DecideKick(any_session, &on_s2) == KickDecision::kKick);
  }

  TEST_CASE("malformed commands are errors, never exceptions") {
    for (const std::string& bad :
         std::vector<std::string>{"",
                                  "{",
                                  "null",
                                  "[]",
                                  "42",
                                  "\"kick\"",
                                  "{}",
                                  R"({"op":"kick"})",
                                  R"({"op":"kick","client_id":42})",
                                  R"({"op":"kick","client_id":"alice"})",
                                  R"({"op":"kick","client_id":"alice:"})",
                                  R"({"op":"kick","client_id":"a:b:c"})",
                                  R"({"op":"explode","client_id":"alice:phone"})",
                                  R"({"op":1,"client_id":"alice:phone"})",
                                  R"({"client_id":"alice:phone"})",
                                  std::string("{\"op\":\"kick\"\0}", 14),
                                  "\xff\xfe{}",
                                  std::string(5000, '{'),
                                  std::string(100000, ' '),
                                  std::string(2000, '[') + std::string(2000, ']'),
                                  std::string(4000, '[')}) {
      INFO(bad.substr(0, 60));
      Result<ControlCommand> r = Status::Internal("unset");
      CHECK_NOTHROW(r = ParseControlCommand(bad));
      CHECK_FALSE(r.ok());
    }
  }
}

TEST_SUITE("broker plugin options") {
  TEST_CASE("defaults apply and every option is read") {
    auto r = ParsePluginOptions({{"jwt_secret_file", "/etc/secret"}});
    REQUIRE(r.ok());
    CHECK(r->jwt_secret_file == "/etc/secret");
    CHECK(r->jwt_previous_secret_file.empty());
    CHECK(r->redis_host == "127.0.0.1");
    CHECK(r->redis_port == 6379);
    CHECK(r->redis_timeout_ms == 200);
    CHECK(r->topic_root == "courier");
    CHECK(r->service_user == "courier-service");
    CHECK(r->presence_ttl_s == 90);
    CHECK(r->shards == 4);  // the uplink's and downlink's default delivery_shards

    auto all = ParsePluginOptions({{"jwt_secret_file", "/a"},
                                   {"jwt_previous_secret_file", "/b"},
                                   {"redis_host", "10.0.0.5"},
                                   {"redis_port", "7000"},
                                   {"redis_timeout_ms", "50"},
                                   {"topic_root", "acme/im"},
                                   {"service_user", "svc"},
                                   {"presence_ttl_s", "60"},
                                   {"shards", "16"}});
    REQUIRE(all.ok());
    CHECK(all->jwt_previous_secret_file == "/b");
    CHECK(all->redis_host == "10.0.0.5");
    CHECK(all->redis_port == 7000);
    CHECK(all->redis_timeout_ms == 50);
    CHECK(all->topic_root == "acme/im");
    CHECK(all->service_user == "svc");
    CHECK(all->presence_ttl_s == 60);
    CHECK(all->shards == 16);
    CHECK(ParsePluginOptions({{"jwt_secret_file", "/a"}, {"shards", "1"}})->shards == 1);
    CHECK(ParsePluginOptions({{"jwt_secret_file", "/a"}, {"shards", "1024"}})->shards == 1024);
  }

  TEST_CASE("missing, malformed, out-of-range and unknown options fail") {
    CHECK_FALSE(ParsePluginOptions({}).ok());
    CHECK_FALSE(ParsePluginOptions({{"jwt_secret_file", ""}}).ok());
    const OptionList::value_type bad[] = {{"redis_port", "0"},
                                          {"redis_port", "65536"},
                                          {"redis_port", "63 79"},
                                          {"redis_port", ""},
                                          {"redis_port", "6379x"},
                                          {"redis_timeout_ms", "-1"},
                                          {"redis_timeout_ms", "0"},
                                          {"presence_ttl_s", "2"},
                                          {"presence_ttl_s", "abc"},
                                          {"topic_root", ""},
                                          {"topic_root", "courier/#"},
                                          {"topic_root", "/x"},
                                          {"service_user", "bad user"},
                                          {"service_user", ""},
                                          {"redis_host", ""},
                                          {"shards", "0"},
                                          {"shards", "1025"},
                                          {"shards", "-4"},
                                          {"shards", "4.0"},
                                          {"shards", ""},
                                          {"shards", " 4"},
                                          {"shard", "4"},
                                          {"jwt_secret_flie", "/x"}};
    for (const auto& option : bad) {
      INFO(option.first << "=" << option.second);
      auto r = ParsePluginOptions({{"jwt_secret_file", "/etc/secret"}, option});
      CHECK_FALSE(r.ok());
      CHECK(r.status().message().find(option.first) != std::string::npos);
    }
  }

  TEST_CASE("secret files are trimmed of trailing whitespace only") {
    TempFile file("  s3cret value \n\r\n\t ");
    auto r = ReadSecretFile(file.path());
    REQUIRE(r.ok());
    CHECK(*r == "  s3cret value");
  }

  TEST_CASE("missing, empty and blank secret files fail without echoing content") {
    CHECK_FALSE(ReadSecretFile("/nonexistent/courier/secret").ok());
    TempFile empty("");
    CHECK_FALSE(ReadSecretFile(empty.path()).ok());
    TempFile blank(" \n\n");
    auto r = ReadSecretFile(blank.path());
    CHECK_FALSE(r.ok());
    CHECK(r.status().message().find("empty") != std::string::npos);
    TempFile huge(std::string(70 * 1024, 'k'));
    auto big = ReadSecretFile(huge.path());
    CHECK_FALSE(big.ok());
    CHECK(big.status().message().find("kkkk") == std::string::npos);
  }
}

TEST_SUITE("broker client registry") {
  // Their addresses stand in for Mosquitto's per-connection handles.
  int conn1 = 0, conn2 = 0, conn3 = 0;

  TEST_CASE("connections are found by handle until removed") {
    ClientRegistry registry;
    CHECK(registry.Find(&conn1) == nullptr);
    registry.Add(&conn1, Device());
    registry.Add(&conn2, Service());
    REQUIRE(registry.Find(&conn1) != nullptr);
    CHECK(registry.Find(&conn1)->client_id == "alice:phone");
    CHECK(registry.Find(&conn2)->is_service());
    CHECK(registry.size() == 2);
    auto gone = registry.Remove(&conn1);
    REQUIRE(gone.has_value());
    CHECK(*gone == Device());
    CHECK(registry.Find(&conn1) == nullptr);
    CHECK_FALSE(registry.Remove(&conn1).has_value());
    CHECK_FALSE(registry.Remove(&conn3).has_value());
  }

  TEST_CASE("a takeover: the old connection's disconnect leaves the device online") {
    ClientRegistry registry;
    registry.Add(&conn1, Device());
    // Same client id: Mosquitto authenticates the new connection before dropping the old one.
    registry.Add(&conn2, Device());
    CHECK_FALSE(registry.Remove(&conn1).has_value());
    CHECK(registry.OnlineDevices() == std::vector<DeviceRef>{{"alice", "phone"}});
    auto gone = registry.Remove(&conn2);
    REQUIRE(gone.has_value());
    CHECK(gone->client_id == "alice:phone");
    CHECK(registry.OnlineDevices().empty());
  }

  TEST_CASE("the newer connection leaving first does not take the older one offline") {
    ClientRegistry registry;
    registry.Add(&conn1, Device());
    registry.Add(&conn2, Device());
    CHECK_FALSE(registry.Remove(&conn2).has_value());
    CHECK(registry.OnlineDevices().size() == 1);
    CHECK(registry.Remove(&conn1).has_value());
  }

  TEST_CASE("by client id, the newest connection is the one Mosquitto keeps") {
    ClientRegistry registry;
    CHECK(registry.FindByClientId("alice:phone") == nullptr);
    ClientIdentity on_s2 = Device();
    on_s2.session_id = "s2";
    registry.Add(&conn1, Device());
    registry.Add(&conn2, on_s2);
    REQUIRE(registry.FindByClientId("alice:phone") != nullptr);
    CHECK(registry.FindByClientId("alice:phone")->session_id == "s2");
    registry.Remove(&conn2);
    CHECK(registry.FindByClientId("alice:phone")->session_id == "s1");
    registry.Remove(&conn1);
    CHECK(registry.FindByClientId("alice:phone") == nullptr);
  }

  TEST_CASE("a reused handle replaces the stale entry") {
    ClientRegistry registry;
    registry.Add(&conn1, Device("alice", "phone"));
    registry.Add(&conn1, Device("bob", "laptop"));
    CHECK(registry.size() == 1);
    CHECK(registry.Find(&conn1)->user_id == "bob");
    CHECK(registry.OnlineDevices() == std::vector<DeviceRef>{{"bob", "laptop"}});
  }

  TEST_CASE("online devices: one per client id, services excluded") {
    ClientRegistry registry;
    registry.Add(&conn1, Device("alice", "phone"));
    registry.Add(&conn2, Device("alice", "laptop"));
    registry.Add(&conn3, Service());
    std::vector<DeviceRef> devices = registry.OnlineDevices();
    CHECK(devices.size() == 2);
    CHECK(registry.OnlineDeviceCount() == 2);
    int takeover = 0;
    registry.Add(&takeover, Device("alice", "phone"));  // a takeover: still one device
    CHECK(registry.OnlineDeviceCount() == 2);
    registry.Remove(&conn1);
    registry.Remove(&takeover);
    CHECK(registry.OnlineDeviceCount() == 1);
    CHECK(registry.OnlineDevices().size() == 1);
  }

  TEST_CASE("expired devices: by their newest connection's token, never the service account") {
    ClientRegistry registry;
    ClientIdentity phone = Device("alice", "phone");
    phone.expires_at_s = kNow;
    ClientIdentity laptop = Device("alice", "laptop");
    laptop.expires_at_s = kNow + 1;
    ClientIdentity service = Service();  // expires_at_s 0: not a device token, never dropped
    registry.Add(&conn1, phone);
    registry.Add(&conn2, laptop);
    registry.Add(&conn3, service);
    CHECK(registry.ExpiredDevices(kNow - 1).empty());
    CHECK(registry.ExpiredDevices(kNow) == std::vector<std::string>{"alice:phone"});
    std::vector<std::string> later = registry.ExpiredDevices(kNow + 1);
    std::sort(later.begin(), later.end());
    CHECK(later == std::vector<std::string>{"alice:laptop", "alice:phone"});

    // A takeover by a connection with a fresh token: the device is no longer expired.
    int conn4 = 0;
    ClientIdentity fresh_phone = Device("alice", "phone");
    fresh_phone.expires_at_s = kNow + 3600;
    registry.Add(&conn4, fresh_phone);
    CHECK(registry.ExpiredDevices(kNow).empty());
  }
}

TEST_SUITE("broker client registry: readable rooms") {
  int conn1 = 0, conn2 = 0, conn3 = 0, conn4 = 0;

  const RoomSet& RoomsOf(const ClientRegistry& registry, ClientRegistry::Handle handle) {
    const ClientRegistry::Connection* c = registry.FindConnection(handle);
    REQUIRE(c != nullptr);
    return c->readable_rooms;
  }

  TEST_CASE("a connection starts with no rooms and gains each it subscribed to as a member") {
    ClientRegistry registry;
    registry.Add(&conn1, Device("alice", "phone"));
    CHECK(RoomsOf(registry, &conn1).empty());
    CHECK(registry.AllowRoom(&conn1, "lobby"));
    CHECK(registry.AllowRoom(&conn1, "games"));
    CHECK(registry.AllowRoom(&conn1, "lobby"));  // again: no change
    CHECK(RoomsOf(registry, &conn1) == RoomSet{"games", "lobby"});
    CHECK_FALSE(registry.AllowRoom(&conn2, "lobby"));  // unknown handle
    registry.Add(&conn3, Service());
    CHECK_FALSE(registry.AllowRoom(&conn3, "lobby"));  // the service reads everything anyway
    CHECK(registry.Find(&conn1)->user_id == "alice");
  }

  TEST_CASE("a room leave revokes the room on every connection of the user, and only there") {
    ClientRegistry registry;
    registry.Add(&conn1, Device("alice", "phone"));
    registry.Add(&conn2, Device("alice", "laptop"));
    registry.Add(&conn3, Device("bob", "phone"));
    registry.Add(&conn4, Service());
    for (auto* c : {&conn1, &conn2, &conn3}) {
      registry.AllowRoom(c, "lobby");
      registry.AllowRoom(c, "games");
    }
    CHECK(registry.RevokeRoom("alice", "lobby") == 2);
    CHECK(RoomsOf(registry, &conn1) == RoomSet{"games"});
    CHECK(RoomsOf(registry, &conn2) == RoomSet{"games"});
    CHECK(RoomsOf(registry, &conn3) == RoomSet{"games", "lobby"});  // bob stays
    CHECK(registry.RevokeRoom("alice", "lobby") == 0);              // already gone
    CHECK(registry.RevokeRoom("alice", "kitchen") == 0);            // never there
    CHECK(registry.RevokeRoom("carol", "lobby") == 0);              // nobody connected
    CHECK(registry.RevokeRoom("courier-service", "lobby") == 0);    // services have no rooms
    // Subscribing again after rejoining grants it again.
    CHECK(registry.AllowRoom(&conn1, "lobby"));
    CHECK(RoomsOf(registry, &conn1) == RoomSet{"games", "lobby"});
  }

  TEST_CASE("rooms belong to the connection: a takeover or a new connection starts empty") {
    ClientRegistry registry;
    registry.Add(&conn1, Device("alice", "phone"));
    registry.AllowRoom(&conn1, "lobby");
    registry.Add(&conn2, Device("alice", "phone"));  // takeover: same client id
    CHECK(RoomsOf(registry, &conn2).empty());
    CHECK(RoomsOf(registry, &conn1) == RoomSet{"lobby"});
    CHECK(registry.RevokeRoom("alice", "lobby") == 1);
    registry.AllowRoom(&conn2, "lobby");
    registry.Remove(&conn1);
    registry.Remove(&conn2);
    CHECK(registry.RevokeRoom("alice", "lobby") == 0);  // forgotten with the connections
    registry.Add(&conn1, Device("alice", "phone"));     // a reused handle
    CHECK(RoomsOf(registry, &conn1).empty());
    CHECK(registry.FindConnection(&conn2) == nullptr);
  }

  TEST_CASE("a reused handle of another user is indexed under the new user only") {
    ClientRegistry registry;
    registry.Add(&conn1, Device("alice", "phone"));
    registry.Add(&conn1, Device("bob", "phone"));
    registry.AllowRoom(&conn1, "lobby");
    CHECK(registry.RevokeRoom("alice", "lobby") == 0);
    CHECK(registry.RevokeRoom("bob", "lobby") == 1);
  }
}

TEST_SUITE("broker redis commands") {
  TEST_CASE("room membership is one SISMEMBER on the room's member set") {
    CHECK(RoomMemberCommand("lobby", "alice") ==
          RedisCommand{"SISMEMBER", "{c:r:lobby}:members", "alice"});
    CHECK(RoomMemberCommand("lobby", "alice")[1] == keys::RoomMembers("lobby"));
  }

  TEST_CASE("a presence task goes to the user's fan-out shard in the downlink's format") {
    for (int shards : {1, 4, 7, 1024}) {
      for (const char* user : {"alice", "bob", "carol", "u.1", "x"}) {
        INFO(shards << " " << user);
        int shard = keys::DeliveryShard(user, shards);
        CHECK(shard >= 0);
        CHECK(shard < shards);
        CHECK(PresenceTaskCommand({user, true, 1764892800123}, shards) ==
              RedisCommand{"XADD", "{fq:" + std::to_string(shard) + "}:fanout", "MAXLEN", "~",
                           "1000000", "*", "k", "presence", "u", user, "on", "1", "ts",
                           "1764892800123"});
      }
    }
    RedisCommand off = PresenceTaskCommand({"alice", false, 42}, 4);
    CHECK(off[1] == keys::FanoutStream(keys::DeliveryShard("alice", 4)));
    CHECK(off[11] == "0");
    CHECK(off[13] == "42");
    CHECK(PresenceTaskCommand({"alice", false, 42}, 1)[1] == "{fq:0}:fanout");
  }
}

TEST_SUITE("broker log text") {
  TEST_CASE("untrusted text is made printable and short") {
    CHECK(PrintableForLog("alice:phone") == "alice:phone");
    CHECK(PrintableForLog("a\nb\x01\xff") == "a?b??");
    CHECK(PrintableForLog(std::string(500, 'x'), 10) == "xxxxxxxxxx...");
    CHECK(PrintableForLog("") == "");
  }
}

}  // namespace courier::broker

namespace courier::broker {

TEST_CASE("broker: devices connect with a clean session and a keepalive of 1-60 s") {
  CHECK(AccessPolicy::CheckDeviceConnection(30, true).ok());
  CHECK(AccessPolicy::CheckDeviceConnection(1, true).ok());
  CHECK(AccessPolicy::CheckDeviceConnection(60, true).ok());
  CHECK(AccessPolicy::CheckDeviceConnection(0, true).code() == Status::Code::kUnauthorized);
  CHECK(AccessPolicy::CheckDeviceConnection(61, true).code() == Status::Code::kUnauthorized);
  CHECK(AccessPolicy::CheckDeviceConnection(65535, true).code() == Status::Code::kUnauthorized);
  CHECK(AccessPolicy::CheckDeviceConnection(30, false).message() ==
        "devices must connect with a clean session");
}

}  // namespace courier::broker
