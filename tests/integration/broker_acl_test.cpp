// The broker plugin inside a real mosquitto (SPEC §3 single sign-on, §4): who may connect, what
// a device may subscribe to and publish, chat rooms for their members only (and no more after a
// leave), kicks on logout and on a second login, the online state it keeps in Redis and the
// presence tasks it queues when a user comes online or goes offline.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/jwt.h"
#include "common/keys.h"
#include "tests/support/courier_api.h"
#include "tests/support/http_client.h"
#include "tests/support/mqtt_device.h"
#include "tests/support/test_stack.h"

namespace courier::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

// How long ConnectAs and this file's ConnectDevice calls give the broker to answer a CONNECT.
constexpr auto kConnectTimeout = 5000ms;

// Connects as the login's client id, with its user id and token (what its mqtt block says).
bool ConnectAs(MqttDevice& d, const Login& l) {
  return d.Connect(l.client_id(), l.user, l.token, std::chrono::seconds(30), kConnectTimeout);
}

bool IsKick(const MqttMessage& m, const std::string& reason) {
  return m.json.is_object() && m.json.value("event", "") == "session.kicked" &&
         m.json.value("reason", "") == reason;
}

std::string PresenceOf(const HttpClient& http, const Login& asker, const std::string& user,
                       json* state) {
  HttpResponse r = http.Get("/v1/presence?users=" + user, asker.token);
  if (r.status != 200) return r.Describe();
  *state = r.json[user];
  return "";
}

// Polls GET /v1/presence until `user`'s online flag is `online`; false after `timeout`.
bool WaitForOnline(const HttpClient& http, const Login& asker, const std::string& user, bool online,
                   std::chrono::milliseconds timeout, json* state) {
  const auto deadline = Steady::now() + timeout;
  while (true) {
    std::string err = PresenceOf(http, asker, user, state);
    if (err.empty() && (*state)["online"] == online) return true;
    if (Steady::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
}

// A bare MQTT 3.1.1 connection over a plain socket, for what MqttDevice can't do: go silent
// (stop sending PINGREQs) or vanish without DISCONNECT. Returns the socket once the broker
// accepted (CONNACK 0), or -1.
int RawMqttConnect(int port, const std::string& client_id, const std::string& username,
                   const std::string& password, uint16_t keepalive_s) {
  auto field = [](const std::string& s) {
    std::string out;
    out += static_cast<char>(s.size() >> 8);
    out += static_cast<char>(s.size() & 0xFF);
    return out + s;
  };
  std::string body = field("MQTT");
  body += '\x04';  // protocol level 3.1.1
  body += '\xC2';  // username, password, clean session
  body += static_cast<char>(keepalive_s >> 8);
  body += static_cast<char>(keepalive_s & 0xFF);
  body += field(client_id) + field(username) + field(password);
  std::string packet = "\x10";
  for (size_t len = body.size();;) {  // remaining length, 7 bits per byte
    char byte = static_cast<char>(len % 128);
    len /= 128;
    packet += len > 0 ? static_cast<char>(byte | 0x80) : byte;
    if (len == 0) break;
  }
  packet += body;

  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  unsigned char connack[4] = {};
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      send(fd, packet.data(), packet.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(packet.size()) ||
      recv(fd, connack, sizeof connack, MSG_WAITALL) != 4 || connack[0] != 0x20 ||
      connack[3] != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// True once the broker has closed `fd` (read returns EOF or an error) within `timeout`.
bool WaitForClose(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(timeout.count())) != 1) return false;
  char c;
  return recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

// ----- Rooms and presence tasks.

// A token of the downlink's broker account, signed with the stack's secret.
std::string ServiceToken(const TestStack& stack) {
  TokenClaims claims;
  claims.user_id = stack.options().service_user;
  claims.role = "service";
  claims.issued_at = WallMs() / 1000;
  claims.expires_at = claims.issued_at + 3600;
  return JwtCodec({stack.jwt_secret()}).Sign(claims);
}

// Connects `service` as the downlink does: the service account, which publishes room messages
// and control commands.
void ConnectService(MqttDevice& service, const TestStack& stack, const std::string& client_id) {
  REQUIRE_MESSAGE(service.Connect(client_id, stack.options().service_user, ServiceToken(stack),
                                  std::chrono::seconds(30), kConnectTimeout),
                  service.last_error() << "\n"
                                       << stack.LogTail(Component::kBroker));
}

// The downlink's broker account as the downlink holds it: a connection to every broker of the
// stack (one, or the cluster topology's three), since room messages and control commands go to
// every broker (docs/scaling.md, "Brokers"). Publish() sends to all of them.
class Service {
 public:
  Service(const TestStack& stack, const std::string& client_id) {
    for (int port : stack.mqtt().ports) {
      devices_.push_back(std::make_unique<MqttDevice>(port));
      ConnectService(*devices_.back(), stack, client_id);
    }
  }
  // True when every broker acknowledged.
  bool Publish(const std::string& topic, const std::string& payload, int qos) {
    bool all = true;
    for (auto& d : devices_) all = d->Publish(topic, payload, qos) && all;
    return all;
  }
  bool Connected() const {
    for (const auto& d : devices_) {
      if (!d->Connected()) return false;
    }
    return true;
  }
  std::string last_error() const {
    std::string out;
    for (const auto& d : devices_) out += d->last_error() + " ";
    return out;
  }

 private:
  std::vector<std::unique_ptr<MqttDevice>> devices_;
};

// POST /v1/rooms/<room>/join as `login`; REQUIREs 200 with the room's topic.
void JoinRoom(const HttpClient& http, const Login& login, const std::string& room) {
  HttpResponse r = http.Post("/v1/rooms/" + room + "/join", json::object(), login.token);
  REQUIRE_MESSAGE(r.status == 200, r.Describe());
  CHECK(r.json["topic"] == "courier/r/" + room);
}

// What the uplink's join and leave do to the room's member set ({c:r:<rid>}:members), for users
// the test does not log in, and for a leave whose relay by the downlink the test does itself.
void SetRoomMember(const TestStack& stack, const std::string& room, const std::string& user,
                   bool member) {
  Result<RedisValue> r =
      stack.RedisCommand({member ? "SADD" : "SREM", keys::RoomMembers(room), user});
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
}

// A room message as the downlink publishes it on <root>/r/<room> (SPEC §4 room envelope).
void PublishRoomMessage(Service& service, const std::string& room, const std::string& id) {
  const json envelope = {{"type", "message"},      {"id", id},        {"conv", "r:" + room},
                         {"room_seq", 1},          {"from", "alice"}, {"kind", "text"},
                         {"body", {{"text", id}}}, {"ts", WallMs()}};
  REQUIRE_MESSAGE(service.Publish("courier/r/" + room, envelope.dump(), 1), service.last_error());
}

bool WaitForRoomMessage(const MqttDevice& d, const std::string& room, const std::string& id,
                        std::chrono::milliseconds timeout = 5000ms) {
  return d.WaitFor(
      [&](const MqttMessage& m) {
        return m.topic == "courier/r/" + room && m.json.is_object() && m.json.value("id", "") == id;
      },
      1, timeout);
}

// The ids of the room messages `d` received on the room's topic, in arrival order.
std::vector<std::string> RoomMessageIds(const MqttDevice& d, const std::string& room) {
  std::vector<std::string> ids;
  for (const MqttMessage& m : d.MessagesOn("courier/r/" + room))
    ids.push_back(m.json.value("id", ""));
  return ids;
}

// A presence task as the plugin queues it in the user's fan-out stream.
struct PresenceTask {
  std::string user;
  std::string on;  // "1" or "0"
  int64_t ts = 0;
};

// The presence tasks of `user` in the fan-out stream of the user's shard, oldest first.
std::vector<PresenceTask> PresenceTasks(const TestStack& stack, int shards,
                                        const std::string& user) {
  const std::string stream = keys::FanoutStream(keys::DeliveryShard(user, shards));
  Result<RedisValue> range = stack.RedisCommand({"XRANGE", stream, "-", "+"});
  REQUIRE_MESSAGE(range.ok(), range.status().ToString());
  std::vector<PresenceTask> tasks;
  for (const RedisValue& entry : range->elements) {
    REQUIRE(entry.elements.size() == 2);
    const std::vector<RedisValue>& fields = entry.elements[1].elements;
    std::map<std::string, std::string> f;
    for (size_t i = 0; i + 1 < fields.size(); i += 2) f[fields[i].str] = fields[i + 1].str;
    if (f["k"] != "presence" || f["u"] != user) continue;
    CHECK(Keys(json(f)) == std::set<std::string>{"k", "u", "on", "ts"});
    tasks.push_back({f["u"], f["on"], std::stoll(f["ts"])});
  }
  return tasks;
}

// Polls until `user` has `n` presence tasks; false after `timeout`.
bool WaitForPresenceTasks(const TestStack& stack, int shards, const std::string& user, size_t n,
                          std::chrono::milliseconds timeout = 2000ms) {
  const auto deadline = Steady::now() + timeout;
  while (PresenceTasks(stack, shards, user).size() < n) {
    if (Steady::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

TEST_CASE("broker: a device subscribes to its own inbox and device topics, and to nothing else") {
  TestStack stack;
  HttpClient http(stack.http_port());
  for (const char* u : {"alice", "bob", "carol"}) Register(http, u);
  Login carol = LogIn(http, "carol", "phone");
  Login alice = LogIn(http, "alice", "phone");
  Login bob_tablet = LogIn(http, "bob", "tablet", "android");
  const int64_t before_login_ms = WallMs();
  Login bob = LogIn(http, "bob", "phone", "ios");

  // The login's mqtt block.
  CHECK(bob.answer["user_id"] == "bob");
  CHECK(bob.answer["device_id"] == "phone");
  const int64_t expires_at = bob.answer["expires_at"].get<int64_t>();
  CHECK(expires_at >= before_login_ms + 24LL * 3600 * 1000 - 2000);
  CHECK(expires_at <= WallMs() + 24LL * 3600 * 1000 + 2000);
  CHECK(bob.mqtt["host"] == "127.0.0.1");
  CHECK(bob.mqtt["port"] == stack.mqtt().PortFor("bob"));
  CHECK(bob.mqtt["client_id"] == "bob:phone");
  CHECK(bob.mqtt["username"] == "bob");
  CHECK(bob.mqtt["password"] == bob.token);
  CHECK(bob.mqtt["topics"] == json{{"inbox", "courier/u/bob"}, {"device", "courier/d/bob/phone"}});

  MqttDevice phone(stack.mqtt());
  REQUIRE_MESSAGE(ConnectAs(phone, bob), phone.last_error() << stack.LogTail(Component::kBroker));
  CHECK(phone.Subscribe({"courier/u/bob"}) == std::vector<int>{1});
  CHECK(phone.Subscribe({"courier/d/bob/phone"}) == std::vector<int>{1});

  const std::vector<std::string> forbidden = {
      "courier/u/alice",
      "courier/d/alice/phone",
      "courier/d/bob/tablet",
      "courier/d/bob/+",
      "courier/u/+",
      "courier/#",
      "#",
      "courier/r/x",
      "+/u/alice",
      "courier/+/alice",
      "courier/u/bob/#",
      "$SYS/#",
      "$CONTROL/courier/v1",
  };
  int drops = 0;
  for (const std::string& topic : forbidden) {
    CAPTURE(topic);
    std::vector<int> codes = phone.Subscribe({topic}, 1, 5000ms);
    if (codes.empty() && !phone.Connected()) {
      // Dropping the connection is an allowed answer too; come back for the next topic.
      ++drops;
      REQUIRE(ConnectAs(phone, bob));
      REQUIRE(phone.Subscribe({"courier/u/bob", "courier/d/bob/phone"}) == std::vector<int>{1, 1});
      continue;
    }
    CHECK_MESSAGE(codes == std::vector<int>{kSubscriptionRefused}, phone.last_error());
  }
  MESSAGE(drops << " of " << forbidden.size() << " refused subscriptions dropped the connection");

  // Traffic on the forbidden topics: a message to alice, and kicks of alice:phone and
  // bob:tablet. Their rightful receivers see it arrive.
  MqttDevice alice_phone(stack.mqtt()), tablet(stack.mqtt());
  ConnectDevice(alice_phone, alice, stack, kConnectTimeout);
  ConnectDevice(tablet, bob_tablet, stack, kConnectTimeout);
  SendOk(http, carol, "alice", "to-alice");
  REQUIRE_MESSAGE(WaitForCmid(alice_phone, "to-alice"), stack.AllLogTails());
  LogIn(http, "alice", "phone2");            // same platform: kicks alice:phone
  LogIn(http, "bob", "tablet2", "android");  // kicks bob:tablet
  REQUIRE_MESSAGE(
      alice_phone.WaitFor([](const MqttMessage& m) { return IsKick(m, "login_elsewhere"); }),
      stack.AllLogTails());
  REQUIRE(tablet.WaitFor([](const MqttMessage& m) { return IsKick(m, "login_elsewhere"); }));

  // Then a message to bob: the only thing his phone may ever have received.
  SendOk(http, carol, "bob", "to-bob");
  REQUIRE_MESSAGE(WaitForCmid(phone, "to-bob"), stack.AllLogTails());
  std::this_thread::sleep_for(300ms);
  std::vector<MqttMessage> got = phone.Messages();
  REQUIRE(got.size() == 1);
  CHECK(got[0].topic == "courier/u/bob");
  CHECK(got[0].json["cmid"] == "to-bob");
}

TEST_CASE("broker: a device's publishes never reach a subscriber, and it cannot kick anyone") {
  TestStack stack;
  HttpClient http(stack.http_port());
  for (const char* u : {"alice", "bob", "carol"}) Register(http, u);
  Login carol = LogIn(http, "carol", "phone");
  Login alice = LogIn(http, "alice", "phone");
  Login bob = LogIn(http, "bob", "phone", "ios");
  Login bob_laptop = LogIn(http, "bob", "laptop", "desktop");
  MqttDevice alice_phone(stack.mqtt()), phone(stack.mqtt()), laptop(stack.mqtt());
  ConnectDevice(alice_phone, alice, stack, kConnectTimeout);
  ConnectDevice(phone, bob, stack, kConnectTimeout);
  ConnectDevice(laptop, bob_laptop, stack, kConnectTimeout);

  const std::string forged =
      R"({"seq":1,"type":"message","id":"forged","conv":"u:alice:bob","conv_seq":1,)"
      R"("from":"carol","to":"user:alice","cmid":"forged","kind":"text","body":"forged","ts":1})";
  const std::vector<std::pair<std::string, std::string>> publishes = {
      {"courier/u/alice", forged},
      {"courier/u/bob", forged},  // its own user's inbox
      {"courier/d/alice/phone",
       R"({"type":"control","event":"session.kicked","reason":"forged","ts":1})"},
      {"courier/d/bob/phone",
       R"({"type":"control","event":"session.kicked","reason":"forged","ts":1})"},
      {"courier/r/x", forged},
      {"$CONTROL/courier/v1", R"({"op":"kick","client_id":"alice:phone"})"},
      {"$CONTROL/courier/v1", R"({"op":"kick","client_id":"bob:phone"})"},
  };
  int drops = 0;
  for (const auto& [topic, payload] : publishes) {
    CAPTURE(topic);
    if (!laptop.Connected()) {
      ++drops;
      REQUIRE(ConnectAs(laptop, bob_laptop));
      REQUIRE(laptop.Subscribe({bob_laptop.inbox()}) == std::vector<int>{1});
    }
    laptop.Publish(topic, payload, 1, 5000ms);  // may be acknowledged and dropped, or refused
  }
  MESSAGE(drops << " publishes dropped the publisher's connection");

  // Sentinels through the real path; the forged messages, had they been routed, came first.
  SendOk(http, carol, "alice", "real-alice");
  SendOk(http, carol, "bob", "real-bob");
  REQUIRE_MESSAGE(WaitForCmid(alice_phone, "real-alice"), stack.AllLogTails());
  REQUIRE_MESSAGE(WaitForCmid(phone, "real-bob"), stack.AllLogTails());
  if (laptop.Connected()) REQUIRE(WaitForCmid(laptop, "real-bob"));
  std::this_thread::sleep_for(300ms);

  for (const MqttDevice* d : {&alice_phone, &phone, &laptop}) {
    CAPTURE(d->client_id());
    for (const MqttMessage& m : d->Messages()) {
      CHECK_MESSAGE(m.payload.find("forged") == std::string::npos, m.topic << " " << m.payload);
    }
  }
  CHECK(alice_phone.Messages().size() == 1);
  CHECK(phone.Messages().size() == 1);
  // Nobody was kicked by the device's control commands.
  CHECK(alice_phone.Connected());
  CHECK(alice_phone.connection_losses() == 0);
  CHECK(phone.Connected());
  CHECK(phone.connection_losses() == 0);
}

TEST_CASE("broker: CONNECT is refused for bad tokens and mismatched identities") {
  TestStack stack;
  HttpClient http(stack.http_port());
  Register(http, "alice");
  Register(http, "bob");
  Login alice = LogIn(http, "alice", "phone");
  Login bob = LogIn(http, "bob", "phone");
  const TokenClaims claims = ClaimsOf(bob.token);
  CHECK(claims.user_id == "bob");
  CHECK(claims.device_id == "phone");
  const int64_t now_s = WallMs() / 1000;

  JwtCodec stack_codec({stack.jwt_secret()});
  TokenClaims expired_claims = claims;
  expired_claims.issued_at = now_s - 7200;
  expired_claims.expires_at = now_s - 3600;
  const std::string expired = stack_codec.Sign(expired_claims);
  const std::string other_secret = JwtCodec({"not-the-stack-secret"}).Sign(claims);
  std::string tampered = bob.token;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  TokenClaims service_claims;
  service_claims.user_id = "bob";
  service_claims.role = "service";
  service_claims.issued_at = now_s;
  service_claims.expires_at = now_s + 3600;
  const std::string service_for_bob = stack_codec.Sign(service_claims);

  struct Attempt {
    const char* what;
    std::string client_id, username, password;
  };
  const Attempt attempts[] = {
      {"garbage password", "bob:phone", "bob", "not-a-token"},
      {"empty password", "bob:phone", "bob", ""},
      {"anonymous", "bob:phone", "", ""},
      {"tampered signature", "bob:phone", "bob", tampered},
      {"expired token", "bob:phone", "bob", expired},
      {"token signed with another secret", "bob:phone", "bob", other_secret},
      {"service role for a device user", "bob:phone", "bob", service_for_bob},
      {"client id of another device", "bob:tablet", "bob", bob.token},
      {"client id of another user", "alice:phone", "bob", bob.token},
      {"client id without device", "bob", "bob", bob.token},
      {"username is not the token's subject", "bob:phone", "alice", bob.token},
      {"another user's token", "bob:phone", "bob", alice.token},
  };
  for (const Attempt& a : attempts) {
    CAPTURE(a.what);
    MqttDevice d(stack.mqtt());
    CHECK_FALSE(d.Connect(a.client_id, a.username, a.password, std::chrono::seconds(30), 5000ms));
    CHECK_FALSE(d.Connected());
  }

  // The control: the same claims, unexpired and signed with the stack's secret, are accepted, so
  // each refusal above was for the reason named. And the broker still serves good tokens.
  TokenClaims fresh = claims;
  fresh.expires_at = now_s + 600;
  MqttDevice control(stack.mqtt());
  CHECK_MESSAGE(control.Connect("bob:phone", "bob", stack_codec.Sign(fresh)), control.last_error());
  control.Disconnect();
  MqttDevice good(stack.mqtt());
  CHECK_MESSAGE(ConnectAs(good, bob), good.last_error());
  CHECK(good.Subscribe({"courier/u/bob"}) == std::vector<int>{1});
}

TEST_CASE("broker: a connection is dropped when its token expires, and the token is refused") {
  TestStack stack;
  HttpClient http(stack.http_port());
  Register(http, "bob");
  Login bob = LogIn(http, "bob", "phone");
  JwtCodec stack_codec({stack.jwt_secret()});
  // bob's own session, with a token that lives 3 more seconds (only the secret's holder can
  // make one; the uplink issues tokens for --token-ttl-s, at least a minute).
  TokenClaims claims = ClaimsOf(bob.token);
  const int64_t now_s = WallMs() / 1000;
  claims.expires_at = now_s + 3;
  const std::string short_lived = stack_codec.Sign(claims);
  MqttDevice phone(stack.mqtt());
  REQUIRE_MESSAGE(phone.Connect("bob:phone", "bob", short_lived), phone.last_error());
  MqttDevice other(stack.mqtt());  // the same session, with its normal 24 h token
  Login bob_laptop = LogIn(http, "bob", "laptop", "desktop");
  ConnectDevice(other, bob_laptop, stack, kConnectTimeout);

  // The broker checks once a second: the drop comes within ~1 s of the expiry.
  CHECK_MESSAGE(phone.WaitForDisconnect(8000ms), stack.LogTail(Component::kBroker));
  CHECK(WallMs() / 1000 >= claims.expires_at);
  // Bob's broker says why (the only broker in the single topology).
  const std::string bob_broker_log = stack.BrokerProcessFor("bob").LogTail(40);
  CHECK_MESSAGE(bob_broker_log.find("client=bob:phone reason=token expired") != std::string::npos,
                bob_broker_log);
  MqttDevice again(stack.mqtt());
  CHECK_FALSE(again.Connect("bob:phone", "bob", short_lived, std::chrono::seconds(30), 5000ms));
  // Another device's connection is untouched.
  CHECK(other.Connected());
}

TEST_CASE("broker: logout drops the device's connection and its token is refused from then on") {
  TestStack stack;
  HttpClient http(stack.http_port());
  Register(http, "alice");
  Register(http, "bob");
  Login alice = LogIn(http, "alice", "phone");
  Login bob = LogIn(http, "bob", "phone");
  Login bob_tablet = LogIn(http, "bob", "tablet", "android");
  MqttDevice phone(stack.mqtt());
  ConnectDevice(phone, bob, stack, kConnectTimeout);
  json state;
  REQUIRE(WaitForOnline(http, alice, "bob", true, 1000ms, &state));

  HttpResponse out = http.Delete("/v1/sessions/current", bob.token);
  REQUIRE_MESSAGE(out.status == 204, out.Describe());
  CHECK(out.body.empty());
  CHECK_MESSAGE(phone.WaitForDisconnect(5000ms), stack.AllLogTails());
  const std::vector<MqttMessage> control = phone.MessagesOn(bob.device_topic());
  MESSAGE(control.size() << " control message(s) before the drop"
                         << (control.empty() ? std::string() : ": " + control[0].payload));
  for (const MqttMessage& m : control) {
    CHECK(m.json == json{{"type", "control"},
                         {"event", "session.kicked"},
                         {"reason", "logout"},
                         {"ts", m.json["ts"]}});
  }

  HttpResponse sync = http.Get("/v1/sync", bob.token);
  CHECK_MESSAGE(sync.status == 401, sync.Describe());
  CHECK(sync.error_code() == "unauthorized");
  HttpResponse again = http.Delete("/v1/sessions/current", bob.token);
  CHECK_MESSAGE(again.status == 401, again.Describe());
  MqttDevice back(stack.mqtt());
  CHECK_FALSE(ConnectAs(back, bob));
  // Its only connection is gone: bob is offline. His session on another platform lives on.
  CHECK_MESSAGE(WaitForOnline(http, alice, "bob", false, 1000ms, &state), state.dump());
  CHECK(http.Get("/v1/sync", bob_tablet.token).status == 200);

  // A new login works as before.
  Login fresh = LogIn(http, "bob", "phone");
  MqttDevice phone2(stack.mqtt());
  ConnectDevice(phone2, fresh, stack, kConnectTimeout);
  CHECK(http.Get("/v1/sync", fresh.token).status == 200);
}

TEST_CASE("broker: a second login on the same platform kicks the old device (single sign-on)") {
  TestStack stack;
  HttpClient http(stack.http_port());
  Register(http, "alice");
  Register(http, "bob");
  Login alice = LogIn(http, "alice", "phone");
  Login old_login = LogIn(http, "bob", "phone", "ios");
  Login android = LogIn(http, "bob", "tablet", "android");
  MqttDevice old_phone(stack.mqtt()), tablet(stack.mqtt());
  ConnectDevice(old_phone, old_login, stack, kConnectTimeout);
  ConnectDevice(tablet, android, stack, kConnectTimeout);

  const int64_t before_ms = WallMs();
  Login new_login = LogIn(http, "bob", "phone2", "ios");
  const int64_t after_ms = WallMs();

  REQUIRE_MESSAGE(old_phone.WaitFor([](const MqttMessage& m) {
    return m.topic == "courier/d/bob/phone" && IsKick(m, "login_elsewhere");
  }),
                  "no session.kicked\n"
                      << stack.AllLogTails());
  std::vector<MqttMessage> kicks = old_phone.MessagesOn("courier/d/bob/phone");
  REQUIRE(kicks.size() == 1);
  const json& kick = kicks[0].json;
  REQUIRE(kick["ts"].is_number_integer());
  CHECK(kick == json{{"type", "control"},
                     {"event", "session.kicked"},
                     {"reason", "login_elsewhere"},
                     {"ts", kick["ts"]}});
  CHECK(kick["ts"].get<int64_t>() >= before_ms);
  CHECK(kick["ts"].get<int64_t>() <= after_ms);
  CHECK_MESSAGE(old_phone.WaitForDisconnect(5000ms), stack.AllLogTails());

  // The old token is dead at the uplink and at the broker.
  HttpResponse sync = http.Get("/v1/sync", old_login.token);
  CHECK_MESSAGE(sync.status == 401, sync.Describe());
  CHECK(sync.error_code() == "unauthorized");
  HttpResponse send = http.Post(
      "/v1/messages", {{"to", "user:alice"}, {"cmid", "late"}, {"body", "x"}}, old_login.token);
  CHECK_MESSAGE(send.status == 401, send.Describe());
  MqttDevice back(stack.mqtt());
  CHECK_FALSE(ConnectAs(back, old_login));

  // The new device and the other platform's device are live and get messages; the tablet was
  // not kicked.
  MqttDevice new_phone(stack.mqtt());
  ConnectDevice(new_phone, new_login, stack, kConnectTimeout);
  SendOk(http, alice, "bob", "after-kick");
  REQUIRE(WaitForCmid(new_phone, "after-kick"));
  REQUIRE(WaitForCmid(tablet, "after-kick"));
  CHECK(tablet.Connected());
  CHECK(tablet.connection_losses() == 0);
  CHECK(tablet.MessagesOn(android.device_topic()).empty());
  CHECK(http.Get("/v1/sync", android.token).status == 200);
  CHECK(new_phone.MessagesOn(new_login.device_topic()).empty());
}

TEST_CASE("single sign-on: of concurrent logins on one platform exactly one stays live") {
  TestStackOptions options;
  options.start_downlink = false;
  TestStack stack(options);
  HttpClient http(stack.http_port());
  Register(http, "bob");
  constexpr int kLogins = 6;
  std::vector<HttpResponse> answers(kLogins);
  {
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < kLogins; ++i) {
      threads.emplace_back([&, i] {
        while (!go.load()) std::this_thread::yield();
        answers[i] = http.Post("/v1/sessions", {{"user_id", "bob"},
                                                {"password", "pw-bob-1"},
                                                {"device_id", "d" + std::to_string(i)},
                                                {"platform", "android"}});
      });
    }
    go = true;
    for (std::thread& t : threads) t.join();
  }
  int live = 0;
  for (int i = 0; i < kLogins; ++i) {
    CAPTURE(i);
    REQUIRE_MESSAGE(answers[i].status == 200, answers[i].Describe());
    HttpResponse sync = http.Get("/v1/sync", answers[i].json["token"].get<std::string>());
    CHECK_MESSAGE((sync.status == 200 || sync.status == 401), sync.Describe());
    live += sync.status == 200 ? 1 : 0;
  }
  CHECK(live == 1);
}

TEST_CASE(
    "broker: a device that logs in again keeps its new connection; the old one is dropped "
    "without session.kicked") {
  TestStack stack;
  HttpClient http(stack.http_port());
  Register(http, "alice");
  Register(http, "bob");
  Login alice = LogIn(http, "alice", "phone");
  Login first = LogIn(http, "bob", "phone", "ios");
  MqttDevice old_conn(stack.mqtt());
  ConnectDevice(old_conn, first, stack, kConnectTimeout);

  // The same device logs in again: its old session ends and its old connection is dropped, but
  // it is not told it was kicked (it replaced itself).
  Login second = LogIn(http, "bob", "phone", "ios");
  CHECK_MESSAGE(old_conn.WaitForDisconnect(5000ms), stack.AllLogTails());
  CHECK(old_conn.Messages().empty());
  CHECK(http.Get("/v1/sync", first.token).status == 401);
  CHECK(http.Get("/v1/sync", second.token).status == 200);

  // The race the design guards against: the device is back on a new token before the downlink
  // relays the kick of its previous session (held back here by stopping the downlink). The kick
  // names the previous session, so the new connection must survive it.
  stack.StopDownlink();
  Login third = LogIn(http, "bob", "phone", "ios");  // ends `second`; its kick waits in Redis
  MqttDevice fresh(stack.mqtt());
  ConnectDevice(fresh, third, stack, kConnectTimeout);
  REQUIRE(stack.StartDownlink().ok());
  // Bob's deliveries are relayed in order: once this message is here, the kick was handled.
  SendOk(http, alice, "bob", "after-relogin");
  REQUIRE_MESSAGE(WaitForCmid(fresh, "after-relogin", 15s), stack.AllLogTails());
  std::this_thread::sleep_for(500ms);
  CHECK(fresh.Connected());
  CHECK(fresh.connection_losses() == 0);
  CHECK(fresh.MessagesOn(third.device_topic()).empty());
  json state;
  REQUIRE(PresenceOf(http, alice, "bob", &state).empty());
  CHECK(state["online"] == true);
}

TEST_CASE(
    "presence: online within 1 s of connecting; offline with last_seen after a clean "
    "disconnect") {
  TestStack stack;
  HttpClient http(stack.http_port());
  Register(http, "alice");
  Register(http, "bob");
  Login alice = LogIn(http, "alice", "phone");
  Login bob = LogIn(http, "bob", "phone");

  json state;
  REQUIRE(PresenceOf(http, alice, "bob", &state).empty());
  CHECK(state == json{{"online", false}, {"last_seen", nullptr}});  // never seen

  MqttDevice phone(stack.mqtt());
  REQUIRE_MESSAGE(ConnectAs(phone, bob), phone.last_error());
  CHECK_MESSAGE(WaitForOnline(http, alice, "bob", true, 1000ms, &state), state.dump());

  const int64_t before_ms = WallMs();
  REQUIRE(phone.Disconnect());
  CHECK_MESSAGE(WaitForOnline(http, alice, "bob", false, 1000ms, &state),
                state.dump() << "\n"
                             << stack.LogTail(Component::kBroker));
  const int64_t after_ms = WallMs();
  REQUIRE(state["last_seen"].is_number_integer());
  CHECK(state["last_seen"].get<int64_t>() >= before_ms);
  CHECK(state["last_seen"].get<int64_t>() <= after_ms);

  // A user is online while any of its devices is.
  Login tablet_login = LogIn(http, "bob", "tablet", "android");
  Login phone_login = LogIn(http, "bob", "desk", "desktop");
  MqttDevice tablet(stack.mqtt()), phone2(stack.mqtt());
  REQUIRE(ConnectAs(tablet, tablet_login));
  REQUIRE(ConnectAs(phone2, phone_login));
  CHECK(WaitForOnline(http, alice, "bob", true, 1000ms, &state));
  REQUIRE(phone2.Disconnect());
  std::this_thread::sleep_for(300ms);
  REQUIRE(PresenceOf(http, alice, "bob", &state).empty());
  CHECK(state["online"] == true);
  REQUIRE(tablet.Disconnect());
  CHECK(WaitForOnline(http, alice, "bob", false, 1000ms, &state));
}

TEST_CASE(
    "presence: a device lost without DISCONNECT is offline within 1.5 x keepalive + the broker's "
    "sweep") {
  TestStack stack;
  HttpClient http(stack.http_port());
  Register(http, "alice");
  Register(http, "bob");
  Register(http, "carol");
  Login alice = LogIn(http, "alice", "phone");
  Login bob = LogIn(http, "bob", "phone");
  Login carol = LogIn(http, "carol", "phone");
  json state;

  // Silent: connected with keepalive 2 s, then never another packet. SPEC §4 asks for offline
  // within 1.5 x keepalive = 3 s of the loss. Debian's Mosquitto 2.0.11 notices an expired
  // keepalive only in a periodic sweep (measured: 5.1-5.9 s here), and the plugin learns of the
  // loss from Mosquitto's disconnect event, so the bound Courier keeps with this broker is
  // 1.5 x keepalive + 6 s — a documented deviation (docs/api.md, "Online state").
  int silent = RawMqttConnect(stack.mqtt().PortFor("bob"), "bob:phone", "bob", bob.token, 2);
  REQUIRE_MESSAGE(silent >= 0, stack.LogTail(Component::kBroker));
  const auto last_packet_at = Steady::now();
  CHECK(WaitForOnline(http, alice, "bob", true, 1000ms, &state));
  const int64_t before_ms = WallMs();
  const bool in_time = WaitForOnline(http, alice, "bob", false,
                                     std::chrono::duration_cast<std::chrono::milliseconds>(
                                         9500ms - (Steady::now() - last_packet_at)),
                                     &state);
  // However long it took (bounded), so that the report says.
  const bool at_all = in_time || WaitForOnline(http, alice, "bob", false, 5000ms, &state);
  const auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - last_packet_at);
  CHECK_MESSAGE(in_time, "offline only after " << (at_all ? std::to_string(took.count()) + " ms"
                                                          : std::string("more than 14.5 s"))
                                               << " of silence at keepalive 2 s\n"
                                               << stack.LogTail(Component::kBroker, 8));
  REQUIRE(at_all);
  CHECK(state["last_seen"].is_number_integer());
  CHECK(state["last_seen"].get<int64_t>() >= before_ms);
  CHECK(WaitForClose(silent, 1000ms));
  close(silent);

  // Vanished: the socket closes without DISCONNECT; the broker sees it at once.
  int gone = RawMqttConnect(stack.mqtt().PortFor("carol"), "carol:phone", "carol", carol.token, 30);
  REQUIRE(gone >= 0);
  CHECK(WaitForOnline(http, alice, "carol", true, 1000ms, &state));
  close(gone);
  CHECK_MESSAGE(WaitForOnline(http, alice, "carol", false, 1000ms, &state), state.dump());
}

TEST_CASE("broker: a room member subscribes to the room and receives it; others are refused") {
  TestStack stack;
  HttpClient http(stack.http_port());
  for (const char* u : {"alice", "bob", "carol"}) Register(http, u);
  SetRoomMember(stack, "lobby", "alice", true);
  Login bob = LogIn(http, "bob", "phone");
  Login carol = LogIn(http, "carol", "phone");
  JoinRoom(http, bob, "lobby");
  JoinRoom(http, bob, "games");
  JoinRoom(http, carol, "kitchen");
  MqttDevice phone(stack.mqtt()), carol_phone(stack.mqtt());
  ConnectDevice(phone, bob, stack, kConnectTimeout);
  ConnectDevice(carol_phone, carol, stack, kConnectTimeout);
  Service service(stack, "room-test-service");

  CHECK_MESSAGE(phone.Subscribe({"courier/r/lobby"}) == std::vector<int>{1},
                phone.last_error() << stack.LogTail(Component::kBroker));
  CHECK(phone.Subscribe({"courier/r/games"}, 0) == std::vector<int>{0});  // QoS 0 is fine too
  // Not a member; wildcards and malformed room topics even for a member.
  CHECK(carol_phone.Subscribe({"courier/r/lobby"}) == std::vector<int>{kSubscriptionRefused});
  for (const std::string& topic : std::vector<std::string>{
           "courier/r/kitchen", "courier/r/+", "courier/r/#", "courier/#", "courier/+/lobby",
           "courier/r/lobby/x", "$share/g/courier/r/lobby", "courier/r/nobody-here"}) {
    CAPTURE(topic);
    CHECK_MESSAGE(phone.Subscribe({topic}) == std::vector<int>{kSubscriptionRefused},
                  phone.last_error());
  }
  CHECK(carol_phone.Subscribe({"courier/r/kitchen"}) == std::vector<int>{1});

  PublishRoomMessage(service, "lobby", "lobby-1");
  PublishRoomMessage(service, "games", "games-1");
  PublishRoomMessage(service, "kitchen", "kitchen-1");
  REQUIRE_MESSAGE(WaitForRoomMessage(phone, "lobby", "lobby-1"), stack.LogTail(Component::kBroker));
  REQUIRE(WaitForRoomMessage(phone, "games", "games-1"));
  REQUIRE(WaitForRoomMessage(carol_phone, "kitchen", "kitchen-1"));
  std::this_thread::sleep_for(300ms);
  CHECK(RoomMessageIds(phone, "lobby") == std::vector<std::string>{"lobby-1"});
  CHECK(phone.MessagesOn("courier/r/kitchen").empty());
  CHECK(carol_phone.MessagesOn("courier/r/lobby").empty());
  const json lobby = phone.MessagesOn("courier/r/lobby")[0].json;
  CHECK(lobby["conv"] == "r:lobby");
  CHECK(lobby["body"] == json{{"text", "lobby-1"}});

  // The inbox still works beside the rooms.
  SendOk(http, carol, "bob", "inbox-too");
  REQUIRE_MESSAGE(WaitForCmid(phone, "inbox-too"), stack.AllLogTails());

  // Membership is asked of Redis at SUBSCRIBE: while Redis is down, room subscriptions are
  // refused, even a member's; rooms subscribed before still deliver (no Redis on that path).
  SetRoomMember(stack, "attic", "bob", true);
  stack.StopRedis();
  CHECK(phone.Subscribe({"courier/r/attic"}) == std::vector<int>{kSubscriptionRefused});
  PublishRoomMessage(service, "lobby", "lobby-2");
  CHECK_MESSAGE(WaitForRoomMessage(phone, "lobby", "lobby-2"), stack.LogTail(Component::kBroker));
  REQUIRE(stack.StartRedis().ok());
  // The plugin retries Redis at most once a second after a failure.
  std::vector<int> granted;
  for (const auto deadline = Steady::now() + 5s; Steady::now() < deadline;) {
    granted = phone.Subscribe({"courier/r/attic"});
    if (granted == std::vector<int>{1}) break;
    std::this_thread::sleep_for(200ms);
  }
  CHECK_MESSAGE(granted == std::vector<int>{1}, stack.LogTail(Component::kBroker));
  CHECK(phone.Connected());
  CHECK(phone.connection_losses() == 0);
}

TEST_CASE("broker: after room_leave the user's open subscriptions receive nothing more of it") {
  TestStack stack;
  HttpClient http(stack.http_port());
  for (const char* u : {"alice", "bob"}) Register(http, u);
  Login alice = LogIn(http, "alice", "phone");
  Login bob = LogIn(http, "bob", "phone", "ios");
  Login bob_laptop = LogIn(http, "bob", "laptop", "desktop");
  for (const Login* l : {&alice, &bob}) {
    JoinRoom(http, *l, "lobby");
    JoinRoom(http, *l, "games");
  }
  MqttDevice alice_phone(stack.mqtt()), phone(stack.mqtt()), laptop(stack.mqtt());
  ConnectDevice(alice_phone, alice, stack, kConnectTimeout);
  ConnectDevice(phone, bob, stack, kConnectTimeout);
  ConnectDevice(laptop, bob_laptop, stack, kConnectTimeout);
  Service service(stack, "room-test-service");
  for (MqttDevice* d : {&alice_phone, &phone, &laptop}) {
    CAPTURE(d->client_id());
    REQUIRE(d->Subscribe({"courier/r/lobby", "courier/r/games"}) == std::vector<int>{1, 1});
  }
  PublishRoomMessage(service, "lobby", "before-leave");
  for (MqttDevice* d : {&alice_phone, &phone, &laptop}) {
    CAPTURE(d->client_id());
    REQUIRE_MESSAGE(WaitForRoomMessage(*d, "lobby", "before-leave"),
                    stack.LogTail(Component::kBroker));
  }

  // A device can't make the broker forget a room for anyone: control commands are the service
  // account's only (its publish on $CONTROL may be refused or may drop its connection).
  laptop.Publish("$CONTROL/courier/v1",
                 R"({"op":"room_leave","user_id":"alice","room_id":"lobby"})", 1, 5000ms);

  // Bob leaves the lobby: the uplink takes him out of the member set, the downlink relays the
  // leave to the broker (both done here by hand, to test the broker alone), then the room goes
  // on.
  SetRoomMember(stack, "lobby", "bob", false);
  REQUIRE(service.Publish("$CONTROL/courier/v1",
                          R"({"op":"room_leave","user_id":"bob","room_id":"lobby"})", 1));
  PublishRoomMessage(service, "lobby", "after-leave");
  PublishRoomMessage(service, "games", "games-after-leave");
  REQUIRE_MESSAGE(WaitForRoomMessage(alice_phone, "lobby", "after-leave"),
                  stack.LogTail(Component::kBroker));
  REQUIRE(WaitForRoomMessage(phone, "games", "games-after-leave"));  // other rooms go on
  if (laptop.Connected()) REQUIRE(WaitForRoomMessage(laptop, "games", "games-after-leave"));
  std::this_thread::sleep_for(300ms);
  CHECK(RoomMessageIds(phone, "lobby") == std::vector<std::string>{"before-leave"});
  CHECK(RoomMessageIds(laptop, "lobby") == std::vector<std::string>{"before-leave"});
  CHECK(RoomMessageIds(alice_phone, "lobby") ==
        std::vector<std::string>{"before-leave", "after-leave"});
  // Their connections are as they were: no drop, the inbox works.
  CHECK(phone.Connected());
  CHECK(phone.connection_losses() == 0);
  SendOk(http, alice, "bob", "still-here");
  REQUIRE_MESSAGE(WaitForCmid(phone, "still-here"), stack.AllLogTails());

  // A new subscription is refused (not a member any more) ...
  CHECK(phone.Subscribe({"courier/r/lobby"}) == std::vector<int>{kSubscriptionRefused});
  // ... until bob joins again and subscribes again: on that connection only.
  JoinRoom(http, bob, "lobby");
  CHECK(phone.Subscribe({"courier/r/lobby"}) == std::vector<int>{1});
  PublishRoomMessage(service, "lobby", "after-rejoin");
  REQUIRE_MESSAGE(WaitForRoomMessage(phone, "lobby", "after-rejoin"),
                  stack.LogTail(Component::kBroker));
  REQUIRE(WaitForRoomMessage(alice_phone, "lobby", "after-rejoin"));
  std::this_thread::sleep_for(300ms);
  CHECK(RoomMessageIds(phone, "lobby") == std::vector<std::string>{"before-leave", "after-rejoin"});
  CHECK(RoomMessageIds(laptop, "lobby") == std::vector<std::string>{"before-leave"});

  // Malformed or foreign control commands change nothing and don't cost the service its
  // connection.
  for (const char* bad : {R"({"op":"room_leave","user_id":"bob"})",
                          R"({"op":"room_leave","user_id":"bob","room_id":"a/b"})", "not json"}) {
    CAPTURE(bad);
    CHECK(service.Publish("$CONTROL/courier/v1", bad, 1));
  }
  PublishRoomMessage(service, "lobby", "after-bad-commands");
  CHECK(WaitForRoomMessage(phone, "lobby", "after-bad-commands"));
  CHECK(service.Connected());
}

TEST_CASE(
    "presence: a task when the first device comes online and when the last goes offline, none "
    "in between") {
  TestStackOptions options;
  options.start_downlink = false;  // nobody consumes the fan-out stream: the test reads it
  options.delivery_shards = 3;     // the plugin must use the stack's shard count, not its default
  // A ttl of 3 s refreshes the online marks every second: the refreshes must add no task.
  options.broker_config = {"plugin_opt_presence_ttl_s 3"};
  TestStack stack(options);
  const int shards = options.delivery_shards;
  HttpClient http(stack.http_port());
  for (const char* u : {"alice", "bob", "carol"}) Register(http, u);
  Login bob = LogIn(http, "bob", "phone", "ios");
  Login bob_laptop = LogIn(http, "bob", "laptop", "desktop");
  Login carol = LogIn(http, "carol", "phone");
  CHECK(PresenceTasks(stack, shards, "bob").empty());

  // First device: online.
  MqttDevice phone(stack.mqtt()), laptop(stack.mqtt());
  int64_t before_ms = WallMs();
  ConnectDevice(phone, bob, stack, kConnectTimeout);
  int64_t after_ms = WallMs();
  REQUIRE_MESSAGE(WaitForPresenceTasks(stack, shards, "bob", 1), stack.LogTail(Component::kBroker));
  std::vector<PresenceTask> tasks = PresenceTasks(stack, shards, "bob");
  REQUIRE(tasks.size() == 1);
  CHECK(tasks[0].on == "1");
  CHECK(tasks[0].ts >= before_ms);
  CHECK(tasks[0].ts <= after_ms);

  // A second device, refreshes, and the second device leaving: the user stays online.
  ConnectDevice(laptop, bob_laptop, stack, kConnectTimeout);
  std::this_thread::sleep_for(2500ms);  // two refreshes at least
  REQUIRE(laptop.Disconnect());
  std::this_thread::sleep_for(300ms);
  CHECK(PresenceTasks(stack, shards, "bob").size() == 1);

  // The last device leaving: offline.
  before_ms = WallMs();
  REQUIRE(phone.Disconnect());
  REQUIRE_MESSAGE(WaitForPresenceTasks(stack, shards, "bob", 2), stack.LogTail(Component::kBroker));
  after_ms = WallMs();
  tasks = PresenceTasks(stack, shards, "bob");
  REQUIRE(tasks.size() == 2);
  CHECK(tasks[1].on == "0");
  CHECK(tasks[1].ts >= before_ms);
  CHECK(tasks[1].ts <= after_ms);

  // Back again: online again.
  MqttDevice phone2(stack.mqtt());
  ConnectDevice(phone2, bob, stack, kConnectTimeout);
  REQUIRE(WaitForPresenceTasks(stack, shards, "bob", 3));
  CHECK(PresenceTasks(stack, shards, "bob")[2].on == "1");

  // A connection lost without DISCONNECT is an offline change too.
  int gone = RawMqttConnect(stack.mqtt().PortFor("carol"), "carol:phone", "carol", carol.token, 30);
  REQUIRE(gone >= 0);
  REQUIRE(WaitForPresenceTasks(stack, shards, "carol", 1));
  close(gone);
  REQUIRE_MESSAGE(WaitForPresenceTasks(stack, shards, "carol", 2),
                  stack.LogTail(Component::kBroker));
  tasks = PresenceTasks(stack, shards, "carol");
  CHECK(tasks[0].on == "1");
  CHECK(tasks[1].on == "0");

  // Each task is in the user's shard only; alice, never connected, has none.
  for (int n = 0; n < shards; ++n) {
    if (n == keys::DeliveryShard("bob", shards)) continue;
    Result<RedisValue> range = stack.RedisCommand({"XRANGE", keys::FanoutStream(n), "-", "+"});
    REQUIRE(range.ok());
    for (const RedisValue& entry : range->elements) {
      CHECK(entry.elements[1].elements[3].str != "bob");
    }
  }
  CHECK(PresenceTasks(stack, shards, "alice").empty());
  CHECK(PresenceTasks(stack, shards, "bob").size() == 3);
}

}  // namespace
}  // namespace courier::testing
