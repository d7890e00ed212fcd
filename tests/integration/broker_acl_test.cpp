// The broker plugin inside a real mosquitto (SPEC §3 single sign-on, §4): who may connect, what
// a device may subscribe to and publish, kicks on logout and on a second login, and the online
// state it keeps in Redis.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/jwt.h"
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
  CHECK(bob.mqtt["port"] == stack.mqtt_port());
  CHECK(bob.mqtt["client_id"] == "bob:phone");
  CHECK(bob.mqtt["username"] == "bob");
  CHECK(bob.mqtt["password"] == bob.token);
  CHECK(bob.mqtt["topics"] == json{{"inbox", "courier/u/bob"}, {"device", "courier/d/bob/phone"}});

  MqttDevice phone(stack.mqtt_port());
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
  MqttDevice alice_phone(stack.mqtt_port()), tablet(stack.mqtt_port());
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
  MqttDevice alice_phone(stack.mqtt_port()), phone(stack.mqtt_port()), laptop(stack.mqtt_port());
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
    MqttDevice d(stack.mqtt_port());
    CHECK_FALSE(d.Connect(a.client_id, a.username, a.password, std::chrono::seconds(30), 5000ms));
    CHECK_FALSE(d.Connected());
  }

  // The control: the same claims, unexpired and signed with the stack's secret, are accepted, so
  // each refusal above was for the reason named. And the broker still serves good tokens.
  TokenClaims fresh = claims;
  fresh.expires_at = now_s + 600;
  MqttDevice control(stack.mqtt_port());
  CHECK_MESSAGE(control.Connect("bob:phone", "bob", stack_codec.Sign(fresh)), control.last_error());
  control.Disconnect();
  MqttDevice good(stack.mqtt_port());
  CHECK_MESSAGE(ConnectAs(good, bob), good.last_error());
  CHECK(good.Subscribe({"courier/u/bob"}) == std::vector<int>{1});
}

TEST_CASE("broker: logout drops the device's connection and its token is refused from then on") {
  TestStack stack;
  HttpClient http(stack.http_port());
  Register(http, "alice");
  Register(http, "bob");
  Login alice = LogIn(http, "alice", "phone");
  Login bob = LogIn(http, "bob", "phone");
  Login bob_tablet = LogIn(http, "bob", "tablet", "android");
  MqttDevice phone(stack.mqtt_port());
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
  MqttDevice back(stack.mqtt_port());
  CHECK_FALSE(ConnectAs(back, bob));
  // Its only connection is gone: bob is offline. His session on another platform lives on.
  CHECK_MESSAGE(WaitForOnline(http, alice, "bob", false, 1000ms, &state), state.dump());
  CHECK(http.Get("/v1/sync", bob_tablet.token).status == 200);

  // A new login works as before.
  Login fresh = LogIn(http, "bob", "phone");
  MqttDevice phone2(stack.mqtt_port());
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
  MqttDevice old_phone(stack.mqtt_port()), tablet(stack.mqtt_port());
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
  MqttDevice back(stack.mqtt_port());
  CHECK_FALSE(ConnectAs(back, old_login));

  // The new device and the other platform's device are live and get messages; the tablet was
  // not kicked.
  MqttDevice new_phone(stack.mqtt_port());
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
  MqttDevice old_conn(stack.mqtt_port());
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
  MqttDevice fresh(stack.mqtt_port());
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

  MqttDevice phone(stack.mqtt_port());
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
  MqttDevice tablet(stack.mqtt_port()), phone2(stack.mqtt_port());
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
  int silent = RawMqttConnect(stack.mqtt_port(), "bob:phone", "bob", bob.token, 2);
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
  int gone = RawMqttConnect(stack.mqtt_port(), "carol:phone", "carol", carol.token, 30);
  REQUIRE(gone >= 0);
  CHECK(WaitForOnline(http, alice, "carol", true, 1000ms, &state));
  close(gone);
  CHECK_MESSAGE(WaitForOnline(http, alice, "carol", false, 1000ms, &state), state.dump());
}

}  // namespace
}  // namespace courier::testing
