// The attack suite of docs/security.md, against the real running stack: every authenticated route
// with missing, malformed, forged, expired, revoked and misused tokens; another user's
// resources; malformed, oversize and mis-typed input; and on the broker forged CONNECTs, foreign
// client ids, subscriptions to others' and wildcard topics, and publishes on downlink topics.
// Every attack must be refused the documented way. Afterwards no process has died, Redis holds
// exactly what it held before the attacks, and the victims' inboxes, groups, friend requests and
// connections are as they were.
//
// Each attack is one row of a table; the test prints how many it tried and how many were refused
// as expected, and every unexpected answer fails a CHECK naming the request.
//
// A second case guesses passwords against the login limits (per user id and per client address,
// clients on 127.0.0.x) and floods registrations. Both cases end by reading every log of the
// stack: no token the stack issued, no password used and not the JWT secret may appear in any.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <tuple>
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

constexpr auto kConnectTimeout = 5000ms;

// ----- Counting attacks.

// `s` with control and non-ASCII bytes as \xNN, for messages.
std::string Printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char hex[5];
      snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  return out;
}

class AttackTally {
 public:
  // Records one attack and CHECKs it was refused; `got` describes the answer for the message.
  void Record(const std::string& raw_what, bool refused, const std::string& raw_got) {
    const std::string what = Printable(raw_what), got = Printable(raw_got);
    ++tried_;
    if (refused) {
      ++refused_;
    } else {
      failures_.push_back(what + " -> " + got);
    }
    CHECK_MESSAGE(refused, "NOT REFUSED: " << what << " -> " << got);
  }
  int tried() const { return tried_; }
  int refused() const { return refused_; }
  const std::vector<std::string>& failures() const { return failures_; }

 private:
  int tried_ = 0;
  int refused_ = 0;
  std::vector<std::string> failures_;
};

// The documented refusal: this status and code, the error schema {"error":{"code","message"}}
// exactly, a JSON content type, and for 401 the WWW-Authenticate: Bearer header.
bool IsRefusal(const HttpResponse& r, int status, const std::string& code) {
  if (r.status != status || Keys(r.json) != std::set<std::string>{"error"}) return false;
  const json& e = r.json["error"];
  if (Keys(e) != std::set<std::string>({"code", "message"}) || e["code"] != code) return false;
  if (!e["message"].is_string() || e["message"].get<std::string>().empty()) return false;
  if (r.header("Content-Type").rfind("application/json", 0) != 0) return false;
  return status != 401 || r.header("WWW-Authenticate") == "Bearer";
}

// ----- HTTP requests.

struct Request {
  std::string method;
  std::string path;  // with the query
  std::string body;  // sent as is; empty: none (an empty body for POST and PATCH)
  std::string Describe() const {
    return method + " " + path + (body.empty() ? "" : " " + body.substr(0, 120));
  }
};

HttpResponse Do(const HttpClient& http, const Request& r, const httplib::Headers& headers) {
  return http.Send(r.method, r.path, r.body, r.body.empty() ? "" : "application/json", "", headers);
}

httplib::Headers Bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

void ExpectRefusal(AttackTally& tally, const HttpClient& http, const std::string& what,
                   const Request& r, const httplib::Headers& headers, int status,
                   const std::string& code) {
  HttpResponse got = Do(http, r, headers);
  tally.Record(
      what + ": " + r.Describe() + " (expected " + std::to_string(status) + " " + code + ")",
      IsRefusal(got, status, code), got.Describe().substr(0, 300));
}

std::string RawHead(const std::string& method, const std::string& path, const std::string& token,
                    const std::string& extra_headers) {
  return method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" +
         "Content-Type: application/json\r\nAuthorization: Bearer " + token + "\r\n" +
         extra_headers + "\r\n";
}

// ----- Tokens.

json PayloadOf(const TokenClaims& c) {
  return {{"sub", c.user_id},   {"dev", c.device_id}, {"sid", c.session_id},
          {"plat", c.platform}, {"iat", c.issued_at}, {"exp", c.expires_at}};
}

// A token with `header` and `payload` and the signature part of `signature_from`.
std::string Splice(const json& header, const json& payload, const std::string& signature_from) {
  return Base64UrlEncode(header.dump()) + "." + Base64UrlEncode(payload.dump()) + "." +
         signature_from.substr(signature_from.rfind('.') + 1);
}

// ----- Redis, before and after.

struct KeyState {
  std::string value;  // type and content
  long long pttl = -1;
};
using RedisState = std::map<std::string, KeyState>;

RedisValue RedisOrDie(const TestStack& stack, const std::vector<std::string>& args) {
  Result<RedisValue> r = stack.RedisCommand(args);
  REQUIRE_MESSAGE(r.ok(), args[0] << ": " << r.status().ToString());
  return *r;
}

// The token buckets of the login and registration limits: a refused login or registration is
// meant to change them (that is how failures are counted), so snapshots leave them out; the
// limits have a case of their own below.
bool IsRateBucket(const std::string& key) {
  return (key.starts_with("{u:") || key.starts_with("{a:")) &&
         (key.ends_with("}:loginfail") || key.ends_with("}:register"));
}

// Every key and its content (DUMP), but the rate buckets. Three kinds of keys change without any
// request, and are compared by what a request could change: a stream (the downlink's consumer
// group records read times) by its length and newest id, a device-online hash (refreshed by the
// broker every 30 s) by its fields, the live downlinks (heartbeats every 1.5 s) by their names,
// the brokers' device counts (every 5 s) by broker.
RedisState Snapshot(TestStack& stack) {
  RedisState out;
  // Every master's keys in the cluster topology.
  Result<std::vector<std::string>> keys = stack.RedisKeys();
  REQUIRE_MESSAGE(keys.ok(), keys.status().ToString());
  {
    for (const std::string& key : *keys) {
      if (IsRateBucket(key)) continue;
      const std::string type = RedisOrDie(stack, {"TYPE", key}).str;
      KeyState s;
      s.pttl = RedisOrDie(stack, {"PTTL", key}).integer;
      if (type == "stream") {
        RedisValue last = RedisOrDie(stack, {"XREVRANGE", key, "+", "-", "COUNT", "1"});
        s.value = "stream len=" + std::to_string(RedisOrDie(stack, {"XLEN", key}).integer) +
                  " last=" + (last.elements.empty() ? "" : last.elements[0].elements[0].str);
      } else if (type == "hash" && key.size() > 7 && key.ends_with(":online")) {
        std::vector<std::string> fields;
        for (const RedisValue& f : RedisOrDie(stack, {"HKEYS", key}).elements) {
          fields.push_back(f.str);
        }
        std::sort(fields.begin(), fields.end());
        s.value = "online";
        for (const auto& f : fields) s.value += " " + f;
      } else if (key == keys::BrokerDevices()) {
        // The brokers' device counts, rewritten every 5 s with a new expiry: by broker.
        std::vector<std::string> brokers;
        for (const RedisValue& f : RedisOrDie(stack, {"HKEYS", key}).elements) {
          brokers.push_back(f.str);
        }
        std::sort(brokers.begin(), brokers.end());
        s.value = "brokers";
        for (const auto& b : brokers) s.value += " " + b;
      } else if (key == keys::LiveDownlinks()) {
        // By name: ZRANGE orders them by their latest heartbeat, which with two downlinks (the
        // cluster topology) flips between snapshots.
        std::vector<std::string> names;
        for (const RedisValue& m : RedisOrDie(stack, {"ZRANGE", key, "0", "-1"}).elements) {
          names.push_back(m.str);
        }
        std::sort(names.begin(), names.end());
        s.value = "live";
        for (const auto& n : names) s.value += " " + n;
      } else {
        s.value = type + " " + RedisOrDie(stack, {"DUMP", key}).str;
      }
      out[key] = std::move(s);
    }
  }
  return out;
}

// The keys that differ, "" if none. A key gone from `after` is fine if its TTL ran out in the
// `elapsed` between the snapshots (send-rate buckets live 3 s).
std::string Diff(const RedisState& before, const RedisState& after,
                 std::chrono::milliseconds elapsed) {
  std::string out;
  for (const auto& [key, s] : before) {
    auto it = after.find(key);
    if (it == after.end()) {
      if (s.pttl >= 0 && s.pttl <= elapsed.count() + 1000) continue;
      out += "removed " + key + "; ";
    } else if (it->second.value != s.value) {
      out += "changed " + key + "; ";
    }
  }
  for (const auto& [key, s] : after) {
    if (!before.contains(key)) out += "added " + key + "; ";
  }
  return out;
}

// Snapshots until two in a row agree (the downlink has finished what setup gave it to do).
RedisState QuietSnapshot(TestStack& stack) {
  RedisState last = Snapshot(stack);
  for (int i = 0; i < 20; ++i) {
    auto start = Steady::now();
    std::this_thread::sleep_for(200ms);
    RedisState next = Snapshot(stack);
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - start);
    if (Diff(last, next, elapsed).empty()) return next;
    last = std::move(next);
  }
  FAIL("Redis never settled");
  return last;
}

bool Contains(const MqttDevice& d, const std::string& marker) {
  for (const MqttMessage& m : d.Messages()) {
    if (m.payload.find(marker) != std::string::npos) return true;
  }
  return false;
}

std::string ServiceToken(const TestStack& stack) {
  TokenClaims claims;
  claims.user_id = stack.options().service_user;
  claims.role = "service";
  claims.issued_at = WallMs() / 1000;
  claims.expires_at = claims.issued_at + 3600;
  return JwtCodec({stack.jwt_secret()}).Sign(claims);
}

double Seconds(Steady::time_point since) {
  return std::chrono::duration<double>(Steady::now() - since).count();
}

// ----- Secrets in logs.

// What must never be written to a log: each token with its signature alone (a log that cut a
// token short would still leak that), each password, the JWT secret.
class Secrets {
 public:
  void AddToken(const std::string& token) {
    Add(token, "token");
    Add(token.substr(token.rfind('.') + 1), "token signature");
  }
  void AddPassword(const std::string& password) { Add(password, "password"); }
  void AddJwtSecret(const std::string& secret) { Add(secret, "JWT secret"); }
  size_t size() const { return kinds_.size(); }
  const std::map<std::string, std::string>& all() const { return kinds_; }

 private:
  void Add(const std::string& secret, const char* kind) {
    // Short strings would match by chance ("x"); every secret here is longer.
    REQUIRE_MESSAGE(secret.size() >= 8, kind << " too short to search for: " << secret);
    kinds_.emplace(secret, kind);
  }
  std::map<std::string, std::string> kinds_;  // secret -> what it is
};

// Stops the stack (so every log is complete), then reads each of its logs line by line and
// CHECKs that no secret appears in any. Prints how much it checked.
void CheckNoSecretsInLogs(TestStack& stack, const Secrets& secrets) {
  Status stopped = stack.StopAll();
  CHECK_MESSAGE(stopped.ok(), stopped.message());
  size_t files = 0, lines = 0, found = 0;
  for (const std::string& path : stack.LogPaths()) {
    ++files;
    std::ifstream in(path);
    std::string line;
    for (size_t n = 1; std::getline(in, line); ++n) {
      ++lines;
      for (const auto& [secret, kind] : secrets.all()) {
        if (line.find(secret) == std::string::npos) continue;
        ++found;
        FAIL_CHECK("a " << kind << " is in " << path << " line " << n << ": "
                        << Printable(line.substr(0, 300)));
      }
    }
  }
  CHECK(files > 0);
  MESSAGE("logs: " << secrets.size() << " secrets (tokens, token signatures, passwords, the JWT "
                   << "secret) searched for in " << lines << " lines of " << files
                   << " logs: " << found << " found");
}

TEST_CASE("security: every attack on the uplink and the broker is refused, and nothing changes") {
  const auto test_start = Steady::now();
  TestStack stack;
  HttpClient http(stack.http_port());
  AttackTally tally;

  // ----- The scene. alice is the attacker; bob and carol the victims. dave is nobody's.
  for (const char* u : {"alice", "bob", "carol", "dave"}) Register(http, u);
  Login alice = LogIn(http, "alice", "phone");
  Login bob = LogIn(http, "bob", "phone");
  Login carol = LogIn(http, "carol", "phone");
  // alice's ended sessions: one logged out, one replaced by a newer login on its platform.
  Login alice_old = LogIn(http, "alice", "old", "web");
  REQUIRE(http.Delete("/v1/sessions/current", alice_old.token).status == 204);
  Login alice_replaced = LogIn(http, "alice", "tablet", "android");
  Login alice_tablet2 = LogIn(http, "alice", "tablet2", "android");

  // bob writes to carol; bob asks carol to be friends; carol's group vg has bob, not alice;
  // carol's group ag has alice as a plain member; bob is in room vroom, alice is not.
  const std::string bob_msg = SendOk(http, bob, "carol", "bc-1")["id"].get<std::string>();
  HttpResponse fr = http.Post("/v1/friends/requests", {{"to", "carol"}}, bob.token);
  REQUIRE_MESSAGE(fr.status == 201, fr.Describe());
  const std::string request_id = fr.json["request_id"].get<std::string>();
  CreateGroup(http, carol, "vg", {"bob"});
  CreateGroup(http, carol, "ag", {"alice", "bob"});
  REQUIRE(http.Post("/v1/rooms/vroom/join", json::object(), bob.token).status == 200);
  SendToOk(http, bob, "group:vg", "bg-1");

  // The victims' devices, alice's device, and a watcher on the service account that sees
  // whatever the broker routes on the downlink's topics: on alice's broker, where her attacks
  // land (with several brokers, hers is the only one she can connect to).
  const std::string service_token = ServiceToken(stack);
  MqttDevice bob_phone(stack.mqtt()), carol_phone(stack.mqtt()), alice_phone(stack.mqtt()),
      watch(stack.mqtt().PortFor("alice"));
  ConnectDevice(bob_phone, bob, stack, kConnectTimeout);
  REQUIRE(bob_phone.Subscribe({"courier/r/vroom"}) == std::vector<int>{1});
  ConnectDevice(carol_phone, carol, stack, kConnectTimeout);
  ConnectDevice(alice_phone, alice, stack, kConnectTimeout);
  REQUIRE_MESSAGE(watch.Connect("security-watch", stack.options().service_user, service_token,
                                std::chrono::seconds(30), kConnectTimeout),
                  watch.last_error());
  REQUIRE(watch.Subscribe({"courier/#"}) == std::vector<int>{1});

  // What the victims have, to compare at the end.
  SyncUntil(http, bob,
            [](const auto& items) { return EntryLabels(items).find("bg-1") != std::string::npos; });
  SyncUntil(http, carol,
            [](const auto& items) { return EntryLabels(items).find("bg-1") != std::string::npos; });
  const std::string bob_inbox = EntryLabels(Inbox(http, bob));
  const std::string carol_inbox = EntryLabels(Inbox(http, carol));
  const json vg_before = http.Get("/v1/groups/vg", carol.token).json;
  const json ag_before = http.Get("/v1/groups/ag", carol.token).json;
  const json requests_before = http.Get("/v1/friends/requests", carol.token).json;
  const json history_before = http.Get("/v1/conversations/u:bob:carol/messages", carol.token).json;
  const json room_before = http.Get("/v1/conversations/r:vroom/messages", bob.token).json;
  REQUIRE(requests_before["items"].size() == 1);

  MESSAGE("setup done at " << Seconds(test_start) << " s");
  const RedisState redis_before = QuietSnapshot(stack);
  const auto attacks_start = Steady::now();

  // ===== 1. Tokens: every authenticated route, with every kind of bad credential. =====
  // Every route of uplink/routes.cpp and uplink/routes_social.cpp that needs a token, each aimed
  // at a victim's resource, with an input that would be valid (and would change state) from a
  // rightful caller: only the credential stands in the way.
  const std::string R = request_id;
  const std::vector<Request> authenticated_routes = {
      {"DELETE", "/v1/sessions/current", ""},
      {"POST", "/v1/messages", R"({"to":"user:bob","cmid":"atk-1","body":"x"})"},
      {"GET", "/v1/sync?after=0", ""},
      {"POST", "/v1/acks", R"({"seq":0})"},
      {"GET", "/v1/conversations/u:bob:carol/messages", ""},
      {"GET", "/v1/presence?users=bob", ""},
      {"POST", "/v1/groups", R"({"group_id":"atk-g","name":"x","members":["bob"]})"},
      {"GET", "/v1/groups/vg", ""},
      {"POST", "/v1/groups/vg/members", R"({"user_ids":["dave"]})"},
      {"PATCH", "/v1/groups/vg/members/bob", R"({"role":"admin"})"},
      {"DELETE", "/v1/groups/vg/members/bob", ""},
      {"POST", "/v1/rooms/vroom/join", ""},
      {"POST", "/v1/rooms/vroom/leave", ""},
      {"POST", "/v1/friends/requests", R"({"to":"dave"})"},
      {"GET", "/v1/friends/requests", ""},
      {"POST", "/v1/friends/requests/" + R + "/accept", ""},
      {"POST", "/v1/friends/requests/" + R + "/reject", ""},
      {"GET", "/v1/friends", ""},
      {"DELETE", "/v1/friends/bob", ""},
      {"POST", "/v1/blocks", R"({"user_id":"dave"})"},
      {"GET", "/v1/blocks", ""},
      {"DELETE", "/v1/blocks/dave", ""},
      {"GET", "/v1/conversations", ""},
      {"POST", "/v1/conversations/u:bob:carol/read", R"({"conv_seq":1})"},
      {"DELETE", "/v1/messages/" + bob_msg, ""},
      {"POST", "/v1/signals", R"({"to":"user:bob","kind":"typing"})"},
  };

  const int64_t now_s = WallMs() / 1000;
  const JwtCodec stack_codec({stack.jwt_secret()});
  const TokenClaims alice_claims = ClaimsOf(alice.token);
  TokenClaims expired = alice_claims;
  expired.issued_at = now_s - 7200;
  expired.expires_at = now_s - 1;
  TokenClaims as_bob = alice_claims;  // bob's name on alice's session
  as_bob.user_id = "bob";
  TokenClaims service;
  service.user_id = "alice";
  service.role = "service";
  service.issued_at = now_s;
  service.expires_at = now_s + 3600;
  json bob_payload = PayloadOf(alice_claims);
  bob_payload["sub"] = "bob";
  const json hs256 = {{"alg", "HS256"}, {"typ", "JWT"}};
  std::string tampered_sig = alice.token;
  tampered_sig.back() = tampered_sig.back() == 'A' ? 'B' : 'A';

  const std::vector<std::pair<std::string, httplib::Headers>> bad_credentials = {
      {"no Authorization", {}},
      {"Basic scheme", {{"Authorization", "Basic YWxpY2U6cHctYWxpY2UtMQ=="}}},
      {"empty bearer", {{"Authorization", "Bearer "}}},
      {"garbage token", Bearer("not-a-token")},
      {"token in a query-like form", Bearer("a.b.c")},
      {"oversize token (5000 bytes)", Bearer(std::string(5000, 'A'))},
      {"tampered signature", Bearer(tampered_sig)},
      {"payload changed to bob, alice's signature",
       Bearer(Splice(hs256, bob_payload, alice.token))},
      {"alg none", Bearer(Splice({{"alg", "none"}, {"typ", "JWT"}}, PayloadOf(alice_claims), "."))},
      {"signed with another secret", Bearer(JwtCodec({"attacker-secret"}).Sign(alice_claims))},
      {"expired (stack secret)", Bearer(stack_codec.Sign(expired))},
      {"service role (stack secret)", Bearer(stack_codec.Sign(service))},
      {"bob's name on alice's session (stack secret)", Bearer(stack_codec.Sign(as_bob))},
      {"revoked by logout", Bearer(alice_old.token)},
      {"replaced by a newer login", Bearer(alice_replaced.token)},
  };
  for (const Request& route : authenticated_routes) {
    for (const auto& [what, headers] : bad_credentials) {
      ExpectRefusal(tally, http, "token: " + what, route, headers, 401, "unauthorized");
    }
  }

  // ===== 2. Another user's resources, with alice's valid token. =====
  struct Trespass {
    const Login* as;
    Request request;
    int status;
    const char* code;
  };
  const std::string msg_vg = R"({"to":"group:vg","cmid":"atk-g1","body":"x"})";
  const std::vector<Trespass> trespasses = {
      {&alice, {"GET", "/v1/conversations/u:bob:carol/messages", ""}, 403, "not_member"},
      {&alice, {"GET", "/v1/conversations/u%3Abob%3Acarol/messages", ""}, 403, "not_member"},
      {&alice,
       {"POST", "/v1/conversations/u:bob:carol/read", R"({"conv_seq":1})"},
       403,
       "not_member"},
      {&alice, {"GET", "/v1/groups/vg", ""}, 403, "not_member"},
      {&alice, {"GET", "/v1/conversations/g:vg/messages", ""}, 403, "not_member"},
      {&alice, {"POST", "/v1/conversations/g:vg/read", R"({"conv_seq":1})"}, 403, "not_member"},
      {&alice, {"POST", "/v1/groups/vg/members", R"({"user_ids":["alice"]})"}, 403, "not_member"},
      {&alice, {"POST", "/v1/groups/vg/members", R"({"user_ids":["dave"]})"}, 403, "not_member"},
      {&alice, {"DELETE", "/v1/groups/vg/members/bob", ""}, 403, "not_member"},
      {&alice, {"DELETE", "/v1/groups/vg/members/carol", ""}, 403, "not_member"},
      {&alice, {"PATCH", "/v1/groups/vg/members/bob", R"({"role":"admin"})"}, 403, "not_member"},
      {&alice, {"POST", "/v1/messages", msg_vg}, 403, "not_member"},
      {&alice, {"POST", "/v1/signals", R"({"to":"group:vg","kind":"typing"})"}, 403, "not_member"},
      {&alice, {"DELETE", "/v1/groups/ag/members/bob", ""}, 403, "forbidden"},
      {&alice, {"DELETE", "/v1/groups/ag/members/carol", ""}, 403, "forbidden"},
      {&alice, {"PATCH", "/v1/groups/ag/members/bob", R"({"role":"admin"})"}, 403, "forbidden"},
      {&alice, {"PATCH", "/v1/groups/ag/members/alice", R"({"role":"admin"})"}, 403, "forbidden"},
      {&alice, {"PATCH", "/v1/groups/ag/members/carol", R"({"role":"member"})"}, 403, "forbidden"},
      {&alice, {"POST", "/v1/groups/ag/members", R"({"user_ids":["dave"]})"}, 403, "forbidden"},
      {&alice, {"POST", "/v1/friends/requests/" + R + "/accept", ""}, 404, "not_found"},
      {&alice, {"POST", "/v1/friends/requests/" + R + "/reject", ""}, 404, "not_found"},
      {&bob, {"POST", "/v1/friends/requests/" + R + "/accept", ""}, 404, "not_found"},
      {&alice, {"DELETE", "/v1/messages/" + bob_msg, ""}, 403, "forbidden"},
      {&carol, {"DELETE", "/v1/messages/" + bob_msg, ""}, 403, "forbidden"},
      {&alice, {"GET", "/v1/conversations/r:vroom/messages", ""}, 403, "not_member"},
      {&alice,
       {"POST", "/v1/messages", R"({"to":"room:vroom","cmid":"atk-r1","body":"x"})"},
       403,
       "not_member"},
      {&alice, {"DELETE", "/v1/friends/carol", ""}, 404, "not_found"},
  };
  for (const Trespass& t : trespasses) {
    ExpectRefusal(tally, http, "trespass as " + t.as->user, t.request, Bearer(t.as->token),
                  t.status, t.code);
  }

  // ===== 3. Malformed bodies, on every route that reads one (and the two public ones). =====
  const std::vector<std::pair<std::string, std::string>> body_routes = {
      {"POST", "/v1/messages"},
      {"POST", "/v1/acks"},
      {"POST", "/v1/groups"},
      {"POST", "/v1/groups/ag/members"},
      {"PATCH", "/v1/groups/ag/members/bob"},
      {"POST", "/v1/friends/requests"},
      {"POST", "/v1/blocks"},
      {"POST", "/v1/conversations/u:alice:bob/read"},
      {"POST", "/v1/signals"},
      {"POST", "/v1/users"},
      {"POST", "/v1/sessions"},
  };
  const std::string nested =
      R"({"to":"user:bob","cmid":"n","body":)" + std::string(70, '[') + std::string(70, ']') + "}";
  const std::vector<std::pair<std::string, std::string>> not_json = {
      {"empty", ""},
      {"truncated", "{"},
      {"array", "[]"},
      {"string", R"("x")"},
      {"number", "7"},
      {"null", "null"},
      {"invalid UTF-8", "{\"to\":\"\xc3\x28\",\"user_id\":\"\xff\"}"},
      {"overlong UTF-8 slash", "{\"x\":\"\xc0\xaf\"}"},
      {"lone surrogate", R"({"x":"\udc00"})"},
      {"nested 70 deep", nested},
      {"NUL outside a string", std::string("{\"x\":1}\0{garbage", 16)},
      {"two objects", R"({"a":1}{"b":2})"},
  };
  for (const auto& [method, path] : body_routes) {
    for (const auto& [what, body] : not_json) {
      ExpectRefusal(tally, http, "body: " + what, {method, path, body}, Bearer(alice.token), 400,
                    "invalid_json");
    }
    // Over the 256 KiB request limit, announced in Content-Length and refused before reading.
    HttpResponse big = RawHttpExchange(
        stack.http_port(), RawHead(method, path, alice.token, "Content-Length: 300000\r\n"));
    tally.Record("body: Content-Length 300000 on " + method + " " + path + " (expected 413)",
                 IsRefusal(big, 413, "too_large"), big.Describe().substr(0, 300));
  }
  // The same, really sent, chunked (no Content-Length), 300 KiB.
  {
    std::string raw =
        RawHead("POST", "/v1/messages", alice.token, "Transfer-Encoding: chunked\r\n");
    const std::string chunk(32768, 'a');
    char size_line[16];
    snprintf(size_line, sizeof size_line, "%zx\r\n", chunk.size());
    for (int i = 0; i < 10; ++i) raw += size_line + chunk + "\r\n";
    raw += "0\r\n\r\n";
    HttpResponse big = RawHttpExchange(stack.http_port(), raw);
    tally.Record("body: chunked 320 KiB POST /v1/messages (expected 413)",
                 IsRefusal(big, 413, "too_large"), big.Describe().substr(0, 300));
  }

  // Wrong types and out-of-range fields, route by route.
  const std::string long_id(65, 'a');
  const std::vector<std::pair<Request, std::string>> bad_fields = {
      {{"POST", "/v1/messages", R"({"to":7,"cmid":"f1","body":1})"}, "to a number"},
      {{"POST", "/v1/messages", R"({"to":"user:bob","cmid":["f2"],"body":1})"}, "cmid an array"},
      {{"POST", "/v1/messages", R"({"to":"user:bob","cmid":"f3"})"}, "body missing"},
      {{"POST", "/v1/messages", R"({"to":"bob","cmid":"f4","body":1})"}, "to without prefix"},
      {{"POST", "/v1/messages", R"({"to":"user:{u:bob}","cmid":"f5","body":1})"}, "to braces"},
      {{"POST", "/v1/messages", R"({"to":"user:+","cmid":"f6","body":1})"}, "to wildcard"},
      {{"POST", "/v1/messages", R"({"to":"user:bob/#","cmid":"f7","body":1})"}, "to topic"},
      {{"POST", "/v1/messages", R"({"to":"user:bob","cmid":"a b","body":1})"}, "cmid space"},
      {{"POST", "/v1/messages",
        R"({"to":"user:bob","cmid":")" + std::string(65, 'c') + R"(","body":1})"},
       "cmid 65"},
      {{"POST", "/v1/messages", R"({"to":"user:bob","cmid":"f8","kind":"a/b","body":1})"},
       "kind slash"},
      {{"POST", "/v1/acks", R"({"seq":"5"})"}, "seq a string"},
      {{"POST", "/v1/acks", R"({"seq":-1})"}, "seq negative"},
      {{"POST", "/v1/acks", R"({"seq":1.5})"}, "seq fractional"},
      {{"POST", "/v1/acks", R"({"seq":1e300})"}, "seq huge"},
      {{"POST", "/v1/acks", R"({"seq":18446744073709551615})"}, "seq 2^64-1"},
      {{"POST", "/v1/groups", R"({"name":5})"}, "name a number"},
      {{"POST", "/v1/groups", R"({"name":""})"}, "name empty"},
      {{"POST", "/v1/groups", R"({"name":")" + std::string(129, 'n') + R"("})"}, "name 129"},
      {{"POST", "/v1/groups", R"({"name":"x","group_id":"a:b"})"}, "group_id colon"},
      {{"POST", "/v1/groups", R"({"name":"x","members":"bob"})"}, "members a string"},
      {{"POST", "/v1/groups", R"({"name":"x","members":["{u:bob}"]})"}, "members braces"},
      {{"POST", "/v1/groups/ag/members", R"({"user_ids":"dave"})"}, "user_ids a string"},
      {{"POST", "/v1/groups/ag/members", R"({"user_ids":[]})"}, "user_ids empty"},
      {{"POST", "/v1/groups/ag/members", R"({"user_ids":[7]})"}, "user_ids numbers"},
      {{"PATCH", "/v1/groups/ag/members/bob", R"({"role":7})"}, "role a number"},
      {{"PATCH", "/v1/groups/ag/members/bob", R"({})"}, "role missing"},
      {{"POST", "/v1/friends/requests", R"({"to":["bob"]})"}, "to an array"},
      {{"POST", "/v1/friends/requests",
        R"({"to":"bob","note":")" + std::string(513, 'n') + R"("})"},
       "note 513"},
      {{"POST", "/v1/blocks", R"({"user_id":{}})"}, "user_id an object"},
      {{"POST", "/v1/blocks", R"({"user_id":")" + long_id + R"("})"}, "user_id 65"},
      {{"POST", "/v1/conversations/u:alice:bob/read", R"({"conv_seq":"1"})"}, "conv_seq string"},
      {{"POST", "/v1/conversations/u:alice:bob/read", R"({"conv_seq":-1})"}, "conv_seq < 0"},
      {{"POST", "/v1/signals", R"({"to":"user:bob","kind":5})"}, "kind a number"},
      {{"POST", "/v1/signals", R"({"to":"user:bob","kind":"presence"})"}, "kind presence"},
      {{"POST", "/v1/signals", R"({"to":"room:vroom","kind":"typing"})"}, "signal to a room"},
      {{"POST", "/v1/signals", R"({"to":"user:bob","kind":"Typing"})"}, "kind uppercase"},
  };
  for (const auto& [request, what] : bad_fields) {
    ExpectRefusal(tally, http, "field: " + what, request, Bearer(alice.token), 400,
                  "invalid_field");
  }
  // A message body over --max-body-bytes (16 KiB), within the request limit.
  ExpectRefusal(tally, http, "field: body 20000 bytes",
                {"POST", "/v1/messages",
                 R"({"to":"user:bob","cmid":"big","body":")" + std::string(20000, 'b') + "\"}"},
                Bearer(alice.token), 413, "too_large");

  // Bad ids in paths: each id-taking route, with ids that are not [A-Za-z0-9_.-]{1,64}.
  const std::vector<std::string> bad_ids = {
      "a%20b", long_id, "%7Bu%3Abob%7D", "bob%0A", "%C3%A9", "*", "a%00b", "+", "%23", "a:b",
  };
  const std::vector<std::pair<std::string, std::string>> id_routes = {
      {"GET", "/v1/groups/{}"},
      {"POST", "/v1/groups/{}/members"},
      {"DELETE", "/v1/groups/ag/members/{}"},
      {"PATCH", "/v1/groups/ag/members/{}"},
      {"POST", "/v1/rooms/{}/join"},
      {"POST", "/v1/rooms/{}/leave"},
      {"POST", "/v1/friends/requests/{}/accept"},
      {"POST", "/v1/friends/requests/{}/reject"},
      {"DELETE", "/v1/friends/{}"},
      {"DELETE", "/v1/blocks/{}"},
      {"DELETE", "/v1/messages/{}"},
  };
  for (const auto& [method, pattern] : id_routes) {
    for (const std::string& id : bad_ids) {
      std::string path = pattern;
      path.replace(path.find("{}"), 2, id);
      std::string body;
      if (pattern == "/v1/groups/{}/members") body = R"({"user_ids":["dave"]})";
      if (method == "PATCH") body = R"({"role":"admin"})";
      ExpectRefusal(tally, http, "path id", {method, path, body}, Bearer(alice.token), 400,
                    "invalid_field");
    }
  }
  const std::vector<std::string> bad_convs = {
      "u:bob:alice",     "u:alice",     "u:alice:bob:carol", "x:alice", "g:",
      "g:%7Bu%3Abob%7D", "r:*",         "u::alice",          long_id,   "g:vg%00",
      "g:vg%20",         "u:alice:%2B",
  };
  for (const std::string& conv : bad_convs) {
    ExpectRefusal(tally, http, "conv", {"GET", "/v1/conversations/" + conv + "/messages", ""},
                  Bearer(alice.token), 400, "invalid_field");
    ExpectRefusal(tally, http, "conv",
                  {"POST", "/v1/conversations/" + conv + "/read", R"({"conv_seq":1})"},
                  Bearer(alice.token), 400, "invalid_field");
  }

  // Bad queries.
  std::string many_users;
  for (int i = 0; i < 101; ++i) many_users += (i ? "," : "") + std::string("u") + std::to_string(i);
  const std::vector<std::string> bad_queries = {
      "/v1/sync?after=-1",
      "/v1/sync?after=abc",
      "/v1/sync?after=1.5",
      "/v1/sync?after=%2B1",
      "/v1/sync?after=99999999999999999999",
      "/v1/sync?after=9007199254740993",
      "/v1/sync?limit=0",
      "/v1/sync?limit=-5",
      "/v1/sync?limit=x",
      "/v1/presence",
      "/v1/presence?users=",
      "/v1/presence?users=a,,b",
      "/v1/presence?users=%7Bu%3Abob%7D",
      "/v1/presence?users=bob%2F%23",
      "/v1/presence?users=" + many_users,
      "/v1/conversations/u:alice:bob/messages?before=0",
      "/v1/conversations/u:alice:bob/messages?before=-1",
      "/v1/conversations/u:alice:bob/messages?limit=0",
      "/v1/conversations?limit=0",
      "/v1/conversations?limit=abc",
  };
  for (const std::string& q : bad_queries) {
    ExpectRefusal(tally, http, "query", {"GET", q, ""}, Bearer(alice.token), 400, "invalid_field");
  }

  // The public routes: logging in as someone else, registering over someone.
  const std::vector<std::tuple<std::string, int, const char*>> public_attacks = {
      {R"({"user_id":"bob","password":"pw-alice-1","device_id":"x"})", 401, "unauthorized"},
      {R"({"user_id":"bob","password":"","device_id":"x"})", 400, "invalid_field"},
      {R"({"user_id":"nobody","password":"pw-bob-1","device_id":"x"})", 401, "unauthorized"},
      {R"({"user_id":"bob' OR '1'='1","password":"x","device_id":"x"})", 400, "invalid_field"},
      {R"({"user_id":"{u:bob}","password":"x","device_id":"x"})", 400, "invalid_field"},
      {R"({"user_id":"bob","password":")" + std::string(1025, 'p') + R"(","device_id":"x"})", 400,
       "invalid_field"},
      {R"({"user_id":"bob","password":"pw-bob-1","device_id":"x/y"})", 400, "invalid_field"},
      {R"({"user_id":"bob","password":"pw-bob-1","device_id":"+"})", 400, "invalid_field"},
      {R"({"user_id":"bob","password":"pw-bob-1","device_id":"#"})", 400, "invalid_field"},
      {R"({"user_id":"bob","password":"pw-bob-1","device_id":"x","platform":"root"})", 400,
       "invalid_field"},
      {R"({"user_id":"bob","password":{"$ne":""},"device_id":"x"})", 400, "invalid_field"},
  };
  for (const auto& [body, status, code] : public_attacks) {
    ExpectRefusal(tally, http, "login", {"POST", "/v1/sessions", body}, {}, status, code);
  }
  const std::vector<std::tuple<std::string, int, const char*>> register_attacks = {
      {R"({"user_id":"bob","password":"new-password"})", 409, "conflict"},
      {R"({"user_id":"courier-service","password":"x"})", 409, "conflict"},
      {R"({"user_id":"+","password":"x"})", 400, "invalid_field"},
      {R"({"user_id":"#","password":"x"})", 400, "invalid_field"},
      {R"({"user_id":"a/b","password":"x"})", 400, "invalid_field"},
      {R"({"user_id":"a:b","password":"x"})", 400, "invalid_field"},
      {R"({"user_id":"","password":"x"})", 400, "invalid_field"},
      {R"({"user_id":"Bob\u0000","password":"x"})", 400, "invalid_field"},
      {R"({"user_id":"new","password":"x","display_name":")" + std::string(257, 'd') + R"("})", 400,
       "invalid_field"},
  };
  for (const auto& [body, status, code] : register_attacks) {
    ExpectRefusal(tally, http, "register", {"POST", "/v1/users", body}, {}, status, code);
  }

  // A request line over 8 KiB, and a header line over 8 KiB.
  ExpectRefusal(tally, http, "request line",
                {"GET", "/v1/sync?after=0&x=" + std::string(9000, 'x'), ""}, Bearer(alice.token),
                413, "too_large");
  {
    HttpResponse r = RawHttpExchange(
        stack.http_port(),
        RawHead("GET", "/v1/sync", alice.token, "X-Pad: " + std::string(65536, 'p') + "\r\n"));
    tally.Record("header: one 64 KiB header line (expected 400 invalid_json)",
                 IsRefusal(r, 400, "invalid_json"), r.Describe().substr(0, 300));
  }
  const int http_attacks = tally.tried();
  MESSAGE("HTTP attacks done at " << Seconds(test_start) << " s");

  // ===== 4. The broker. =====
  // CONNECT: each attempt on a fresh client; none may be let in.
  TokenClaims fresh_other_device = alice_claims;
  fresh_other_device.device_id = "laptop";  // a device alice never logged in
  TokenClaims service_bob;
  service_bob.user_id = "bob";
  service_bob.role = "service";
  service_bob.issued_at = now_s;
  service_bob.expires_at = now_s + 3600;
  struct ConnectAttack {
    const char* what;
    std::string client_id, username, password;
    std::chrono::seconds keepalive{30};
  };
  const std::vector<ConnectAttack> connects = {
      {"anonymous", "bob:phone", "", ""},
      {"garbage password", "bob:phone", "bob", "not-a-token"},
      {"tampered signature", "alice:phone", "alice", tampered_sig},
      {"payload changed to bob", "bob:phone", "bob", Splice(hs256, bob_payload, alice.token)},
      {"alg none", "alice:phone", "alice",
       Splice({{"alg", "none"}, {"typ", "JWT"}}, PayloadOf(alice_claims), ".")},
      {"another secret", "alice:phone", "alice", JwtCodec({"attacker-secret"}).Sign(alice_claims)},
      {"expired", "alice:phone", "alice", stack_codec.Sign(expired)},
      {"revoked by logout", "alice:old", "alice", alice_old.token},
      {"replaced by a newer login", "alice:tablet", "alice", alice_replaced.token},
      {"bob's name on alice's session", "bob:phone", "bob", stack_codec.Sign(as_bob)},
      {"a device that has no session", "alice:laptop", "alice",
       stack_codec.Sign(fresh_other_device)},
      {"service role for user bob", "bob:phone", "bob", stack_codec.Sign(service_bob)},
      {"service role for user alice as service user", "x", stack.options().service_user,
       stack_codec.Sign(service)},
      {"client id of bob's phone", "bob:phone", "alice", alice.token},
      {"client id and username of bob", "bob:phone", "bob", alice.token},
      {"client id of alice's other device", "alice:tablet2", "alice", alice.token},
      {"client id without device", "alice", "alice", alice.token},
      {"client id with a wildcard", "alice:+", "alice", alice.token},
      {"username bob, own client id", "alice:phone", "bob", alice.token},
      {"keepalive 0", "alice:phone", "alice", alice.token, std::chrono::seconds(0)},
      {"keepalive 120 s", "alice:phone", "alice", alice.token, std::chrono::seconds(120)},
  };
  // A refused CONNECT takes the client about 2 s: the attempts run side by side.
  std::vector<std::future<std::pair<bool, std::string>>> outcomes;
  for (const ConnectAttack& a : connects) {
    outcomes.push_back(std::async(std::launch::async, [&stack, &a] {
      MqttDevice d(stack.mqtt());
      bool in = d.Connect(a.client_id, a.username, a.password, a.keepalive, kConnectTimeout);
      std::string error = d.last_error();
      if (in) d.Disconnect();
      return std::make_pair(in, error);
    }));
  }
  for (size_t i = 0; i < connects.size(); ++i) {
    auto [in, error] = outcomes[i].get();
    tally.Record(std::string("mqtt connect: ") + connects[i].what + " as " + connects[i].client_id,
                 !in, in ? "CONNACK 0 (accepted)" : error);
  }
  // SUBSCRIBE from alice's connected phone.
  const std::vector<std::string> topics = {
      "courier/u/bob",
      "courier/d/bob/phone",
      "courier/d/alice/tablet2",
      "courier/r/vroom",
      "courier/u/+",
      "courier/#",
      "#",
      "courier/r/+",
      "courier/r/#",
      "courier/d/+/+",
      "courier/d/bob/+",
      "courier/d/alice/#",
      "+/u/bob",
      "courier/+/bob",
      "+/+/+",
      "$share/g/courier/u/bob",
      "$share/g/courier/u/alice",
      "$SYS/#",
      "courier/u/alice/#",
      "courier/u/alice/+",
      "$CONTROL/courier/v1",
      "courier/u/#",
      "courier/u/alice/",
      "courier//u/bob",
  };
  int drops = 0;
  for (const std::string& topic : topics) {
    std::vector<int> codes = alice_phone.Subscribe({topic}, 1, 5000ms);
    const bool dropped = codes.empty() && !alice_phone.Connected();
    tally.Record("mqtt subscribe: " + topic,
                 dropped || codes == std::vector<int>{kSubscriptionRefused},
                 codes.empty() ? "no SUBACK: " + alice_phone.last_error()
                               : "SUBACK " + std::to_string(codes[0]));
    if (dropped) {
      ++drops;
      ConnectDevice(alice_phone, alice, stack, kConnectTimeout);
    }
  }

  // PUBLISH from alice's phone on every downlink topic; each payload carries its own marker.
  const std::vector<std::pair<std::string, std::string>> publishes = {
      {"courier/u/bob", R"({"seq":99,"type":"message","cmid":"forged-1","from":"carol"})"},
      {"courier/u/carol", R"({"seq":99,"type":"message","cmid":"forged-2","from":"bob"})"},
      {"courier/u/alice", R"({"seq":99,"type":"message","cmid":"forged-3"})"},
      {"courier/d/bob/phone", R"({"type":"control","event":"session.kicked","tag":"forged-4"})"},
      {"courier/r/vroom", R"({"type":"message","cmid":"forged-5","conv":"r:vroom"})"},
      {"courier/u/bob/x", R"({"cmid":"forged-6"})"},
      {"$CONTROL/courier/v1", R"({"op":"kick","client_id":"bob:phone","session_id":")" +
                                  ClaimsOf(bob.token).session_id + R"(","tag":"forged-7"})"},
      {"$CONTROL/courier/v1",
       R"({"op":"room_leave","user_id":"bob","room_id":"vroom","tag":"forged-8"})"},
  };
  for (const auto& [topic, payload] : publishes) {
    if (!alice_phone.Connected()) {
      ++drops;
      ConnectDevice(alice_phone, alice, stack, kConnectTimeout);
    }
    alice_phone.Publish(topic, payload, 1, 5000ms);  // acknowledged and dropped, or refused
  }
  MESSAGE("MQTT attacks done at " << Seconds(test_start) << " s");
  MESSAGE(drops << " broker refusals dropped alice's connection");

  // ===== 5. Nothing changed. =====
  std::this_thread::sleep_for(500ms);  // past the broker's 250 ms kick grace
  const RedisState redis_after = Snapshot(stack);
  const auto attacks_elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - attacks_start);
  const std::string diff = Diff(redis_before, redis_after, attacks_elapsed);
  CHECK_MESSAGE(diff.empty(), "Redis changed during the attacks: " << diff);
  CHECK_MESSAGE(redis_before.size() == redis_after.size(),
                "keys " << redis_before.size() << " -> " << redis_after.size());

  // Sentinels through the rightful paths: what the victims receive after the attacks.
  SendOk(http, carol, "bob", "sentinel-bob");
  SendOk(http, bob, "carol", "sentinel-carol");
  SendOk(http, carol, "alice", "sentinel-alice");
  SendToOk(http, bob, "room:vroom", "sentinel-room");
  REQUIRE_MESSAGE(WaitForCmid(bob_phone, "sentinel-bob"), stack.AllLogTails());
  REQUIRE_MESSAGE(WaitForCmid(carol_phone, "sentinel-carol"), stack.AllLogTails());
  REQUIRE_MESSAGE(WaitForCmid(watch, "sentinel-room"), stack.AllLogTails());
  WaitForCmid(bob_phone, "sentinel-room", 3000ms);
  WaitForCmid(alice_phone, "sentinel-alice", 3000ms);
  std::this_thread::sleep_for(300ms);

  for (size_t i = 0; i < publishes.size(); ++i) {
    const std::string marker = "forged-" + std::to_string(i + 1);
    std::string seen_by;
    for (const MqttDevice* d : {&bob_phone, &carol_phone, &alice_phone, &watch}) {
      if (Contains(*d, marker)) seen_by += d->client_id() + " ";
    }
    bool refused = seen_by.empty();
    std::string got = "delivered to " + seen_by;
    if (publishes[i].second.find("\"kick\"") != std::string::npos) {
      refused = refused && bob_phone.Connected() && bob_phone.connection_losses() == 0;
      got += bob_phone.connection_losses() > 0 ? "; bob's phone was dropped" : "";
    }
    if (publishes[i].second.find("room_leave") != std::string::npos) {
      const bool room_still_delivered = Contains(bob_phone, "sentinel-room");
      refused = refused && room_still_delivered;
      got += room_still_delivered ? "" : "; bob's phone stopped receiving vroom";
    }
    tally.Record("mqtt publish: " + publishes[i].first + " " + publishes[i].second, refused, got);
  }
  CHECK(bob_phone.Connected());
  CHECK(bob_phone.connection_losses() == 0);
  CHECK(carol_phone.connection_losses() == 0);
  CHECK_MESSAGE(Contains(alice_phone, "sentinel-alice"), "alice's own inbox still delivers");

  // The victims' state, as the API shows it.
  CHECK(EntryLabels(Inbox(http, bob)) == bob_inbox + ", msg:sentinel-bob, msg:sentinel-carol");
  CHECK(EntryLabels(Inbox(http, carol)) ==
        carol_inbox + ", msg:sentinel-bob, msg:sentinel-carol, msg:sentinel-alice");
  CHECK(http.Get("/v1/groups/vg", carol.token).json == vg_before);
  CHECK(http.Get("/v1/groups/ag", carol.token).json == ag_before);
  CHECK(http.Get("/v1/friends/requests", carol.token).json == requests_before);
  json history = http.Get("/v1/conversations/u:bob:carol/messages", carol.token).json;
  REQUIRE(history["items"].size() == 3);                     // sentinel-carol, sentinel-bob, bc-1
  CHECK(history["items"][2] == history_before["items"][0]);  // bc-1, not recalled
  json room = http.Get("/v1/conversations/r:vroom/messages", bob.token).json;
  CHECK(room["items"].size() == room_before["items"].size() + 1);
  CHECK(http.Get("/v1/sync", alice.token).status == 200);  // alice's own session still works

  // No process died.
  for (Component c :
       {Component::kRedis, Component::kBroker, Component::kUplink, Component::kDownlink}) {
    CHECK_MESSAGE(stack.Running(c), ComponentName(c) << " died\n" << stack.LogTail(c));
  }
  CHECK(http.Get("/readyz").status == 200);

  const double seconds = std::chrono::duration<double>(Steady::now() - test_start).count();
  MESSAGE("security: " << tally.tried() << " inputs and attacks tried (" << http_attacks
                       << " HTTP, " << tally.tried() - http_attacks << " MQTT), " << tally.refused()
                       << " refused as expected, in " << seconds << " s");
  for (const std::string& f : tally.failures()) MESSAGE("NOT REFUSED: " << f);
  CHECK(tally.refused() == tally.tried());

  // ===== 6. No secret in any log. =====
  Secrets secrets;
  for (const Login* l : {&alice, &bob, &carol, &alice_old, &alice_replaced, &alice_tablet2}) {
    secrets.AddToken(l->token);
  }
  secrets.AddToken(service_token);
  for (const TokenClaims& c : {expired, as_bob, service, fresh_other_device, service_bob}) {
    secrets.AddToken(stack_codec.Sign(c));  // signed with the stack's secret: real credentials
  }
  for (const char* u : {"alice", "bob", "carol", "dave"}) secrets.AddPassword(PasswordOf(u));
  secrets.AddPassword("new-password");
  secrets.AddJwtSecret(stack.jwt_secret());
  CheckNoSecretsInLogs(stack, secrets);
}

// ----- Login and registration limits.

// The calls of one Redis command so far (INFO commandstats), e.g. "hget": the password hash is
// read with HGET, so an unchanged count means no login was checked against a password. Summed
// over every master in the cluster topology.
long long CommandCalls(TestStack& stack, const std::string& command) {
  long long calls = 0;
  for (const Result<RedisValue>& r : stack.RedisCommandOnMasters({"INFO", "commandstats"})) {
    REQUIRE_MESSAGE(r.ok(), "INFO: " << r.status().ToString());
    const std::string& info = r->str;
    const std::string field = "cmdstat_" + command + ":calls=";
    size_t at = info.find(field);
    calls += at == std::string::npos ? 0 : std::stoll(info.substr(at + field.size()));
  }
  return calls;
}

// The keys matching `pattern` (on every master in the cluster topology).
size_t KeyCount(TestStack& stack, const std::string& pattern) {
  Result<std::vector<std::string>> keys = stack.RedisKeys(pattern);
  REQUIRE_MESSAGE(keys.ok(), keys.status().ToString());
  return keys->size();
}

HttpResponse LoginAs(const HttpClient& http, const std::string& user, const std::string& password,
                     const std::string& device = "phone") {
  return http.Post("/v1/sessions",
                   {{"user_id", user}, {"password", password}, {"device_id", device}});
}

// Retry-After of a 429 in seconds; 0 when missing or not a positive whole number.
int RetryAfter(const HttpResponse& r) {
  const std::string v = r.header("Retry-After");
  if (v.empty() || v.size() > 6 || v.find_first_not_of("0123456789") != std::string::npos) return 0;
  return std::stoi(v);
}

// A client the uplink sees at 127.0.0.<n>.
HttpClient ClientAt(const TestStack& stack, int n) {
  HttpClient c(stack.http_port());
  c.set_source_address("127.0.0." + std::to_string(n));
  return c;
}

TEST_CASE(
    "security: password guessing is limited per user and per address, before the hash, "
    "and registration floods per address") {
  const auto test_start = Steady::now();
  TestStackOptions options;
  options.start_downlink = false;  // the API alone; no MQTT client either (HGET counts below)
  // Per user 3 failed logins, then one every 2 s; per address 8, then one every 5 s; per address
  // 10 registrations, then one every 100 s.
  options.uplink_args = {
      "--login-burst-per-user",       "3",  "--login-rate-per-user",       "0.5",
      "--login-burst-per-address",    "8",  "--login-rate-per-address",    "0.2",
      "--register-burst-per-address", "10", "--register-rate-per-address", "0.01"};
  TestStack stack(options);
  HttpClient http(stack.http_port());  // 127.0.0.1: the rightful users
  AttackTally tally;
  Secrets secrets;
  secrets.AddJwtSecret(stack.jwt_secret());
  for (const char* u : {"alice", "bob", "carol"}) {
    Register(http, u);
    secrets.AddPassword(PasswordOf(u));
  }
  auto log_in_ok = [&](const HttpClient& client, const std::string& user, const char* what) {
    HttpResponse r = LoginAs(client, user, PasswordOf(user));
    CHECK_MESSAGE(r.status == 200, what << ": " << r.Describe());
    if (r.status == 200) secrets.AddToken(r.json["token"].get<std::string>());
    return r;
  };
  log_in_ok(http, "alice", "alice before the attack");

  // ----- 1. Guessing alice's password from 127.0.0.2: the burst, then 429 before any hashing.
  HttpClient guesser = ClientAt(stack, 2);
  const size_t sessions_before = KeyCount(stack, "{u:alice}:sess:*");
  for (int i = 0; i < 3; ++i) {
    const std::string guess = "guess-alice-" + std::to_string(i);
    secrets.AddPassword(guess);
    HttpResponse r = LoginAs(guesser, "alice", guess);
    tally.Record("guess " + std::to_string(i + 1) + " of the burst (expected 401)",
                 IsRefusal(r, 401, "unauthorized"), r.Describe());
  }
  const long long hgets = CommandCalls(stack, "hget");
  HttpResponse limited = LoginAs(guesser, "alice", "guess-alice-3");
  secrets.AddPassword("guess-alice-3");
  tally.Record("guess 4, past the burst (expected 429 rate_limited, Retry-After 1..2)",
               IsRefusal(limited, 429, "rate_limited") && RetryAfter(limited) >= 1 &&
                   RetryAfter(limited) <= 2,
               limited.Describe() + " Retry-After: " + limited.header("Retry-After"));
  // The right password is refused too while limited, from this address and from another one:
  // the per-user limit follows the user id, wherever the guesses come from.
  HttpResponse right = LoginAs(guesser, "alice", PasswordOf("alice"));
  tally.Record("the right password while limited (expected 429)",
               IsRefusal(right, 429, "rate_limited"), right.Describe());
  HttpResponse elsewhere = LoginAs(ClientAt(stack, 3), "alice", PasswordOf("alice"));
  tally.Record("the right password from 127.0.0.3 while alice is limited (expected 429)",
               IsRefusal(elsewhere, 429, "rate_limited"), elsewhere.Describe());
  CHECK_MESSAGE(CommandCalls(stack, "hget") == hgets,
                "a limited login read a password hash: it was checked, and hashed");
  CHECK_MESSAGE(KeyCount(stack, "{u:alice}:sess:*") == sessions_before, "a session was created");
  // Someone else, from another address, is not affected.
  log_in_ok(ClientAt(stack, 3), "bob", "bob from 127.0.0.3 while alice is limited");
  // An unknown user id is limited exactly like alice, and its bucket expires.
  for (int i = 0; i < 3; ++i) LoginAs(ClientAt(stack, 4), "ghost", "guess-ghost-1");
  secrets.AddPassword("guess-ghost-1");
  HttpResponse ghost = LoginAs(ClientAt(stack, 4), "ghost", "guess-ghost-1");
  tally.Record("an unknown user id past the burst (expected the same 429 as alice's)",
               IsRefusal(ghost, 429, "rate_limited") &&
                   ghost.json["error"]["message"] == limited.json["error"]["message"],
               ghost.Describe());
  const long long ghost_ttl = RedisOrDie(stack, {"PTTL", "{u:ghost}:loginfail"}).integer;
  CHECK_MESSAGE((ghost_ttl > 0 && ghost_ttl <= 3 * 2000 + 1000),
                "{u:ghost}:loginfail PTTL " << ghost_ttl);
  // After Retry-After, alice gets in again.
  std::this_thread::sleep_for(std::chrono::seconds(RetryAfter(limited)));
  log_in_ok(guesser, "alice", "alice after Retry-After");

  // ----- 2. One address guessing across many user ids: its burst, then 429 for everyone there.
  HttpClient sprayer = ClientAt(stack, 5);
  for (int i = 0; i < 8; ++i) {
    HttpResponse r = LoginAs(sprayer, "spray" + std::to_string(i), "guess-spray-1");
    tally.Record("spray user " + std::to_string(i) + " from 127.0.0.5 (expected 401)",
                 IsRefusal(r, 401, "unauthorized"), r.Describe());
  }
  secrets.AddPassword("guess-spray-1");
  const long long hgets_spray = CommandCalls(stack, "hget");
  HttpResponse sprayed = LoginAs(sprayer, "spray8", "guess-spray-1");
  tally.Record("a 9th user id from 127.0.0.5 (expected 429 rate_limited, Retry-After 1..5)",
               IsRefusal(sprayed, 429, "rate_limited") && RetryAfter(sprayed) >= 1 &&
                   RetryAfter(sprayed) <= 5,
               sprayed.Describe() + " Retry-After: " + sprayed.header("Retry-After"));
  HttpResponse carol_there = LoginAs(sprayer, "carol", PasswordOf("carol"));
  tally.Record("carol's right password from the limited 127.0.0.5 (expected 429)",
               IsRefusal(carol_there, 429, "rate_limited"), carol_there.Describe());
  CHECK(CommandCalls(stack, "hget") == hgets_spray);
  CHECK_MESSAGE(KeyCount(stack, "{u:carol}:sess:*") == 0, "a session was created");
  log_in_ok(ClientAt(stack, 6), "carol", "carol from 127.0.0.6");
  HttpResponse spray_elsewhere = LoginAs(ClientAt(stack, 6), "spray8", "guess-spray-1");
  CHECK_MESSAGE(spray_elsewhere.status == 401, spray_elsewhere.Describe());
  // Successful logins never count: many from one address, none refused.
  for (int i = 0; i < 20; ++i) log_in_ok(http, "bob", "bob's repeated logins from 127.0.0.1");

  // ----- 3. A registration flood from 127.0.0.9: its burst, then 429; nothing created after.
  HttpClient flood = ClientAt(stack, 9);
  for (int i = 0; i < 10; ++i) {
    HttpResponse r = flood.Post(
        "/v1/users", {{"user_id", "flood" + std::to_string(i)}, {"password", "pw-flood-1"}});
    CHECK_MESSAGE(r.status == 201, "registration " << i << ": " << r.Describe());
  }
  secrets.AddPassword("pw-flood-1");
  HttpResponse too_many =
      flood.Post("/v1/users", {{"user_id", "flood10"}, {"password", "pw-flood-1"}});
  tally.Record("an 11th registration from 127.0.0.9 (expected 429 rate_limited, Retry-After ~100)",
               IsRefusal(too_many, 429, "rate_limited") && RetryAfter(too_many) >= 90 &&
                   RetryAfter(too_many) <= 100,
               too_many.Describe() + " Retry-After: " + too_many.header("Retry-After"));
  CHECK(RedisOrDie(stack, {"EXISTS", "{u:flood10}:user"}).integer == 0);
  HttpResponse other =
      ClientAt(stack, 10).Post("/v1/users", {{"user_id", "flood10"}, {"password", "pw-flood-1"}});
  CHECK_MESSAGE(other.status == 201, "from another address: " << other.Describe());

  CHECK(stack.Running(Component::kUplink));
  MESSAGE("login limits: " << tally.tried() << " attempts, " << tally.refused()
                           << " answered as expected, in " << Seconds(test_start) << " s");
  for (const std::string& f : tally.failures()) MESSAGE("UNEXPECTED: " << f);
  CHECK(tally.refused() == tally.tried());
  CheckNoSecretsInLogs(stack, secrets);
}

}  // namespace
}  // namespace courier::testing
