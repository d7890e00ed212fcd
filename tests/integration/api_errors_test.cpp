// The uplink's answers to bad input (SPEC §3 error model): every error is
// {"error":{"code","message"}} with the documented status; no request, however malformed, crashes
// the process or leaves partial state, and the uplink keeps serving afterwards.
#include <doctest/doctest.h>

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
#include "tests/support/test_stack.h"

namespace courier::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// The documented error shape, exactly: status, code, a human message, a JSON content type.
void CheckError(const HttpResponse& r, int status, const std::string& code,
                const std::string& what) {
  CAPTURE(what);
  CHECK_MESSAGE(r.status == status, r.Describe());
  CHECK_MESSAGE(Keys(r.json) == std::set<std::string>{"error"}, r.Describe());
  CHECK_MESSAGE(Keys(r.json["error"]) == std::set<std::string>({"code", "message"}), r.Describe());
  CHECK_MESSAGE(r.error_code() == code, r.Describe());
  const json message = r.json.is_object() && r.json["error"].is_object()
                           ? r.json["error"].value("message", json())
                           : json();
  CHECK_MESSAGE((message.is_string() && !message.get<std::string>().empty()), r.Describe());
  CHECK_MESSAGE(r.header("Content-Type").rfind("application/json", 0) == 0,
                "Content-Type: " << r.header("Content-Type"));
}

HttpResponse RegisterUser(const HttpClient& http, const std::string& user,
                          const std::string& password) {
  return http.Post("/v1/users", {{"user_id", user}, {"password", password}});
}

HttpResponse PostRaw(const HttpClient& http, const std::string& path, const std::string& body,
                     const Login& as) {
  return http.Send("POST", path, body, "application/json", as.token);
}

std::vector<std::string> Cmids(const std::vector<json>& inbox) {
  std::vector<std::string> out;
  for (const json& e : inbox) out.push_back(e["cmid"].get<std::string>());
  return out;
}

// The uplink still answers, and a normal send still goes through.
void CheckStillServing(TestStack& stack, const HttpClient& http, const Login& from,
                       const std::string& to, const std::string& cmid) {
  CHECK_MESSAGE(stack.Running(Component::kUplink), stack.LogTail(Component::kUplink));
  CHECK(http.Get("/healthz").status == 200);
  CHECK(http.Get("/readyz").status == 200);
  SendOk(http, from, to, cmid);
}

// Sends only the head of a request that announces a `content_length`-byte JSON body, and reads
// the answer. For requests the uplink refuses on their Content-Length, before reading the body:
// the harness's HttpClient (cpp-httplib 0.11.4) writes the whole body first, into a connection
// the server has answered and closed, and then often reports no answer ("Write") instead of the
// 413 (before main.cpp ignored SIGPIPE, that write killed the test binary).
HttpResponse RawRequestHead(int port, const std::string& method, const std::string& path,
                            size_t content_length, const std::string& token) {
  return RawHttpExchange(port, method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                                   "Content-Type: application/json\r\nConnection: close\r\n" +
                                   "Authorization: Bearer " + token + "\r\n" + "Content-Length: " +
                                   std::to_string(content_length) + "\r\n\r\n");
}

// The API tier needs no downlink.
TestStackOptions ApiOptions() {
  TestStackOptions o;
  o.start_downlink = false;
  return o;
}

// What most cases here start from: a stack for the API tier, with alice and bob registered and
// logged in on their phones.
struct ApiFixture {
  ApiFixture() : stack(ApiOptions()), http(stack.http_port()) {
    Register(http, "alice");
    Register(http, "bob");
    alice = LogIn(http, "alice");
    bob = LogIn(http, "bob");
  }

  TestStack stack;
  HttpClient http;
  Login alice;
  Login bob;
};

// Named requests the API must refuse.
using NamedRequests = std::vector<std::pair<std::string, json>>;

// POSTs each of `requests` to `path` (with `token` unless it is empty) and checks each answer is
// the documented 400 invalid_field.
void CheckInvalidFields(const HttpClient& http, const std::string& path,
                        const NamedRequests& requests, const std::string& token = "") {
  for (const auto& [what, request] : requests) {
    CheckError(http.Post(path, request, token), 400, "invalid_field", "POST " + path + ": " + what);
  }
}

TEST_CASE_FIXTURE(ApiFixture,
                  "api: malformed JSON is 400 invalid_json and the uplink keeps serving") {
  SendOk(http, alice, "bob", "before");

  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const std::vector<std::pair<std::string, std::string>> bodies = {
      {"empty", ""},
      {"truncated", "{"},
      {"truncated object", R"({"to":"user:bob","cmid":"t1","body":)"},
      {"not json", "nul"},
      {"array", R"([{"to":"user:bob","cmid":"a1","body":1}])"},
      {"string", R"("hello")"},
      {"number", "42"},
      {"trailing comma", R"({"to":"user:bob","cmid":"tc","body":1,})"},
      {"single quotes", R"({'to':'user:bob','cmid':'sq','body':1})"},
      {"trailing garbage", R"({"to":"user:bob","cmid":"tg","body":1} x)"},
      {"invalid UTF-8", "{\"to\":\"user:bob\",\"cmid\":\"u8\",\"body\":\"\xff\xfe\"}"},
      {"lone surrogate", R"({"to":"user:bob","cmid":"ls","body":"\ud800"})"},
      {"raw NUL byte in a string",
       std::string(R"({"to":"user:bob","cmid":"nul","body":"a)") + '\0' + "b\"}"},
      {"deep nesting (100000)", R"({"to":"user:bob","cmid":"deep","body":)" + deep + "}"},
  };
  for (const auto& [what, body] : bodies) {
    CheckError(PostRaw(http, "/v1/messages", body, alice), 400, "invalid_json",
               "POST /v1/messages: " + what);
  }
  CheckError(http.Send("POST", "/v1/users", "{", "application/json"), 400, "invalid_json",
             "register: truncated");
  CheckError(http.Send("POST", "/v1/users", deep, "application/json"), 400, "invalid_json",
             "register: deep nesting");
  CheckError(http.Send("POST", "/v1/sessions", "[]", "application/json"), 400, "invalid_json",
             "login: array");
  CheckError(PostRaw(http, "/v1/acks", "{\"seq\":", bob), 400, "invalid_json", "ack: truncated");

  // A moderately nested body is a fine body.
  json nested = "leaf";
  for (int i = 0; i < 20; ++i) nested = json::array({nested});
  HttpResponse ok = Send(http, alice, "bob", "nested", nested);
  CHECK_MESSAGE(ok.status == 201, ok.Describe());

  CheckStillServing(stack, http, alice, "bob", "after");
  // Nothing of the refused requests was written.
  CHECK(Cmids(Inbox(http, bob)) == std::vector<std::string>{"before", "nested", "after"});
}

TEST_CASE_FIXTURE(ApiFixture,
                  "api: wrong types, missing fields, bad ids and bad cmids are 400 invalid_field") {
  const std::string id65(65, 'a');
  const NamedRequests sends = {
      {"to is a number", {{"to", 5}, {"cmid", "x1"}, {"body", 1}}},
      {"to is null", {{"to", nullptr}, {"cmid", "x2"}, {"body", 1}}},
      {"to is an array", {{"to", {"user:bob"}}, {"cmid", "x3"}, {"body", 1}}},
      {"to missing", {{"cmid", "x4"}, {"body", 1}}},
      {"cmid is a number", {{"to", "user:bob"}, {"cmid", 12}, {"body", 1}}},
      {"cmid missing", {{"to", "user:bob"}, {"body", 1}}},
      {"body missing", {{"to", "user:bob"}, {"cmid", "x5"}}},
      {"kind is a number", {{"to", "user:bob"}, {"cmid", "x6"}, {"kind", 7}, {"body", 1}}},
      {"kind is empty", {{"to", "user:bob"}, {"cmid", "x7"}, {"kind", ""}, {"body", 1}}},
      {"kind has a space", {{"to", "user:bob"}, {"cmid", "x8"}, {"kind", "a b"}, {"body", 1}}},
      {"to without id", {{"to", "user:"}, {"cmid", "i1"}, {"body", 1}}},
      {"to without prefix", {{"to", "bob"}, {"cmid", "i2"}, {"body", 1}}},
      {"to with unknown prefix", {{"to", "usr:bob"}, {"cmid", "i3"}, {"body", 1}}},
      {"to with a bad character", {{"to", "user:b@b"}, {"cmid", "i4"}, {"body", 1}}},
      {"to with a slash", {{"to", "user:bob/x"}, {"cmid", "i5"}, {"body", 1}}},
      {"to with a plus", {{"to", "user:+"}, {"cmid", "i6"}, {"body", 1}}},
      {"to with a NUL", {{"to", std::string("user:bob\0", 9)}, {"cmid", "i7"}, {"body", 1}}},
      {"to 65 characters", {{"to", "user:" + id65}, {"cmid", "i8"}, {"body", 1}}},
      {"cmid empty", {{"to", "user:bob"}, {"cmid", ""}, {"body", 1}}},
      {"cmid 65 characters", {{"to", "user:bob"}, {"cmid", id65}, {"body", 1}}},
      {"cmid with a space", {{"to", "user:bob"}, {"cmid", "a b"}, {"body", 1}}},
      {"cmid with a tab", {{"to", "user:bob"}, {"cmid", "a\tb"}, {"body", 1}}},
      {"cmid with DEL", {{"to", "user:bob"}, {"cmid", "a\x7f"}, {"body", 1}}},
      {"cmid non-ASCII", {{"to", "user:bob"}, {"cmid", "caf\xc3\xa9"}, {"body", 1}}},
  };
  CheckInvalidFields(http, "/v1/messages", sends, alice.token);

  const NamedRequests registrations = {
      {"user_id is a number", {{"user_id", 42}, {"password", "pw-123456"}}},
      {"user_id missing", {{"password", "pw-123456"}}},
      {"user_id empty", {{"user_id", ""}, {"password", "pw-123456"}}},
      {"user_id with a space", {{"user_id", "a b"}, {"password", "pw-123456"}}},
      {"user_id with a colon", {{"user_id", "a:b"}, {"password", "pw-123456"}}},
      {"user_id with a slash", {{"user_id", "a/b"}, {"password", "pw-123456"}}},
      {"user_id with a hash", {{"user_id", "a#"}, {"password", "pw-123456"}}},
      {"user_id 65 characters", {{"user_id", id65}, {"password", "pw-123456"}}},
      {"password is a bool", {{"user_id", "carol"}, {"password", true}}},
      {"password missing", {{"user_id", "carol"}}},
      {"password empty", {{"user_id", "carol"}, {"password", ""}}},
      {"display_name is a number",
       {{"user_id", "carol"}, {"password", "pw-123456"}, {"display_name", 5}}},
  };
  CheckInvalidFields(http, "/v1/users", registrations);
  // None of them created carol.
  CHECK(RegisterUser(http, "carol", "pw-carol-1").status == 201);

  const NamedRequests logins = {
      {"device_id missing", {{"user_id", "bob"}, {"password", "pw-bob-1"}}},
      {"device_id with a slash",
       {{"user_id", "bob"}, {"password", "pw-bob-1"}, {"device_id", "a/b"}}},
      {"device_id with a plus", {{"user_id", "bob"}, {"password", "pw-bob-1"}, {"device_id", "+"}}},
      {"device_id 65 characters",
       {{"user_id", "bob"}, {"password", "pw-bob-1"}, {"device_id", id65}}},
      {"device_id is a number", {{"user_id", "bob"}, {"password", "pw-bob-1"}, {"device_id", 1}}},
      {"unknown platform",
       {{"user_id", "bob"}, {"password", "pw-bob-1"}, {"device_id", "d"}, {"platform", "symbian"}}},
      {"platform is a number",
       {{"user_id", "bob"}, {"password", "pw-bob-1"}, {"device_id", "d"}, {"platform", 3}}},
  };
  CheckInvalidFields(http, "/v1/sessions", logins);
  // None of them replaced bob's session.
  CHECK(http.Get("/v1/sync", bob.token).status == 200);

  const NamedRequests acks = {
      {"seq is a string", {{"seq", "5"}}},
      {"seq negative", {{"seq", -1}}},
      {"seq fractional", {{"seq", 1.5}}},
      {"seq missing", json::object()},
  };
  CheckInvalidFields(http, "/v1/acks", acks, bob.token);

  // The edges that are valid: 64-character ids and cmids of any printable ASCII.
  const std::string id64(64, 'z');
  HttpResponse long_user = RegisterUser(http, id64, "pw-long-1");
  CHECK_MESSAGE(long_user.status == 201, long_user.Describe());
  std::string cmid64 = R"(!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~)";
  cmid64 += std::string(64 - cmid64.size(), '~');
  REQUIRE(cmid64.size() == 64);
  HttpResponse edge = Send(http, alice, id64, cmid64, 1);
  CHECK_MESSAGE(edge.status == 201, edge.Describe());

  CheckStillServing(stack, http, alice, "bob", "after");
  CHECK(Cmids(Inbox(http, bob)) == std::vector<std::string>{"after"});
  CHECK(Cmids(Inbox(http, alice)) == std::vector<std::string>{cmid64, "after"});
}

TEST_CASE_FIXTURE(ApiFixture,
                  "api: a body over 16 KiB and a request over the size limit are 413 too_large") {
  // A string body of n characters serializes to n + 2 bytes.
  HttpResponse at_limit = Send(http, alice, "bob", "16k", std::string(16382, 'x'));
  CHECK_MESSAGE(at_limit.status == 201, at_limit.Describe());
  CheckError(Send(http, alice, "bob", "16k+1", std::string(16383, 'x')), 413, "too_large",
             "body of 16385 bytes");
  // Counted serialized compactly: whitespace in the request does not count (6 KB compact).
  std::string spaced = R"({"to":"user:bob","cmid":"spaced","body":[)";
  for (int i = 0; i < 3000; ++i) spaced += std::string(i ? ",      " : "") + "1";  // ~21 KB
  spaced += "]}";
  HttpResponse compact = PostRaw(http, "/v1/messages", spaced, alice);
  CHECK_MESSAGE(compact.status == 201, compact.Describe());
  json big_object = json::object();
  for (int i = 0; i < 2000; ++i) big_object["k" + std::to_string(i)] = i;  // ~20 KiB
  CheckError(Send(http, alice, "bob", "obj", big_object), 413, "too_large",
             "object body over 16 KiB");

  // A request over the server's maximum (256 KiB) is refused on its Content-Length, before its
  // body is read (see RawRequestHead for why not through HttpClient).
  for (const auto& [path, length] : std::vector<std::pair<std::string, size_t>>{
           {"/v1/messages", 300000}, {"/v1/users", 1 << 20}, {"/v1/sessions", 256 * 1024 + 1}}) {
    CheckError(RawRequestHead(stack.http_port(), "POST", path, length, alice.token), 413,
               "too_large", "POST " + path + " of " + std::to_string(length) + " bytes");
  }

  CheckStillServing(stack, http, alice, "bob", "after");
  CHECK(Cmids(Inbox(http, bob)) == std::vector<std::string>{"16k", "spaced", "after"});
}

TEST_CASE_FIXTURE(ApiFixture, "api: bad query parameters are 400 invalid_field") {
  SendOk(http, alice, "bob", "m1");

  const std::vector<std::pair<std::string, std::vector<std::string>>> bad_queries = {
      {"/v1/sync",
       {"?after=-1", "?after=abc", "?after=1.5", "?after=", "?after=1e3", "?after=%201",
        "?after=99999999999999999999", "?after=0x10", "?limit=0", "?limit=-1", "?limit=abc",
        "?limit=", "?limit=2.5", "?after=0&limit=0"}},
      {"/v1/conversations/u:alice:bob/messages",
       {"?before=0", "?before=-3", "?before=x", "?limit=0", "?limit=x"}},
      {"/v1/presence", {"", "?users=", "?users=a,,b", "?users=b%40d", "?users=bob,a%20b"}},
  };
  for (const auto& [path, queries] : bad_queries) {
    for (const std::string& query : queries) {
      CheckError(http.Get(path + query, bob.token), 400, "invalid_field", "GET " + path + query);
    }
  }
  CheckError(http.Get("/v1/conversations/garbage/messages", bob.token), 400, "invalid_field",
             "history of a malformed conversation id");

  HttpResponse good = http.Get("/v1/sync?after=0&limit=1", bob.token);
  REQUIRE_MESSAGE(good.status == 200, good.Describe());
  CHECK(good.json["items"].size() == 1);
  CheckStillServing(stack, http, alice, "bob", "after");
}

TEST_CASE_FIXTURE(ApiFixture, "api: unknown paths are 404 not_found and wrong methods are 405") {
  for (const char* path : {"/", "/v1", "/v1/", "/v1/nope", "/v2/messages", "/v1/messages/x/y/z",
                           "/v1/syncx", "/healthz/x", "/v1/sessions/other"}) {
    CheckError(http.Get(path, alice.token), 404, "not_found", std::string("GET ") + path);
  }
  CheckError(http.Post("/v1/nope", json::object(), alice.token), 404, "not_found", "POST /v1/nope");

  const std::vector<std::pair<std::string, std::string>> wrong = {
      {"GET", "/v1/messages"},   {"PUT", "/v1/messages"},
      {"DELETE", "/v1/sync"},    {"POST", "/v1/sync"},
      {"POST", "/healthz"},      {"GET", "/v1/users"},
      {"PATCH", "/v1/sessions"}, {"GET", "/v1/sessions/current"},
      {"PUT", "/v1/acks"},
  };
  for (const auto& [method, path] : wrong) {
    CheckError(http.Send(method, path, method == "GET" || method == "DELETE" ? "" : "{}",
                         "application/json", alice.token),
               405, "method_not_allowed", method + " " + path);
  }
  CheckStillServing(stack, http, alice, "bob", "after");
}

TEST_CASE_FIXTURE(ApiFixture,
                  "api: missing, garbage, expired and forged tokens are 401 unauthorized") {
  const TokenClaims claims = ClaimsOf(bob.token);
  const int64_t now_s = WallMs() / 1000;
  JwtCodec stack_codec({stack.jwt_secret()});

  TokenClaims expired_claims = claims;
  expired_claims.issued_at = now_s - 7200;
  expired_claims.expires_at = now_s - 3600;
  TokenClaims as_alice = claims;
  as_alice.user_id = "alice";
  TokenClaims service;
  service.user_id = "courier-service";
  service.role = "service";
  service.issued_at = now_s;
  service.expires_at = now_s + 3600;

  // bob's token with the payload swapped for alice's, keeping bob's signature.
  const std::string alice_signed = stack_codec.Sign(as_alice);
  auto part = [](const std::string& t, int n) {
    size_t a = 0;
    for (int i = 0; i < n; ++i) a = t.find('.', a) + 1;
    size_t b = t.find('.', a);
    return t.substr(a, b == std::string::npos ? std::string::npos : b - a);
  };
  const std::string swapped =
      part(bob.token, 0) + "." + part(alice_signed, 1) + "." + part(bob.token, 2);
  const std::string alg_none =
      Base64UrlEncode(R"({"alg":"none","typ":"JWT"})") + "." + part(bob.token, 1) + ".";

  const std::vector<std::pair<std::string, httplib::Headers>> attempts = {
      {"no Authorization", {}},
      {"empty Bearer", {{"Authorization", "Bearer "}}},
      {"garbage", {{"Authorization", "Bearer garbage"}}},
      {"three garbage parts", {{"Authorization", "Bearer a.b.c"}}},
      {"Basic scheme", {{"Authorization", "Basic Ym9iOnB3LWJvYi0x"}}},
      {"token without scheme", {{"Authorization", bob.token}}},
      {"expired", {{"Authorization", "Bearer " + stack_codec.Sign(expired_claims)}}},
      {"another secret", {{"Authorization", "Bearer " + JwtCodec({"other"}).Sign(claims)}}},
      {"payload swapped", {{"Authorization", "Bearer " + swapped}}},
      {"alg none", {{"Authorization", "Bearer " + alg_none}}},
      {"service token", {{"Authorization", "Bearer " + stack_codec.Sign(service)}}},
      {"bob's token with a trailing byte", {{"Authorization", "Bearer " + bob.token + "x"}}},
  };
  for (const auto& [what, headers] : attempts) {
    CheckError(http.Send("GET", "/v1/sync", "", "", "", headers), 401, "unauthorized",
               "sync: " + what);
    CheckError(http.Send("POST", "/v1/messages", R"({"to":"user:alice","cmid":"forged","body":1})",
                         "application/json", "", headers),
               401, "unauthorized", "send: " + what);
  }
  // The control: the same claims, unexpired and signed with the stack's secret, are accepted.
  TokenClaims fresh = claims;
  fresh.expires_at = now_s + 600;
  HttpResponse control = http.Get("/v1/sync", stack_codec.Sign(fresh));
  CHECK_MESSAGE(control.status == 200, control.Describe());

  CheckStillServing(stack, http, bob, "alice", "after");
  CHECK(Cmids(Inbox(http, alice)) == std::vector<std::string>{"after"});  // no "forged"
}

TEST_CASE_FIXTURE(
    ApiFixture, "api: unknown recipient 404, not a member 403, taken user id 409, bad login 401") {
  Register(http, "carol");
  Login carol = LogIn(http, "carol");

  CheckError(Send(http, alice, "nobody", "n1", 1), 404, "not_found", "send to an unknown user");
  // Nothing was recorded for that cmid: once the user exists, the same cmid is a new message.
  Register(http, "nobody");
  HttpResponse retry = Send(http, alice, "nobody", "n1", 1);
  CHECK_MESSAGE(retry.status == 201, retry.Describe());
  CHECK(retry.json["conv_seq"] == 1);

  SendOk(http, alice, "carol", "private");
  CheckError(http.Get("/v1/conversations/u:alice:carol/messages", bob.token), 403, "not_member",
             "history of someone else's conversation");
  HttpResponse own = http.Get("/v1/conversations/u:alice:carol/messages", carol.token);
  REQUIRE_MESSAGE(own.status == 200, own.Describe());
  CHECK(own.json["items"].size() == 1);

  // A taken user id: 409, and the existing account is untouched.
  CheckError(RegisterUser(http, "bob", "another-password"), 409, "conflict", "register bob again");
  CheckError(http.Post("/v1/sessions",
                       {{"user_id", "bob"}, {"password", "another-password"}, {"device_id", "x"}}),
             401, "unauthorized", "login with the 409's password");
  CHECK(http.Get("/v1/sync", bob.token).status == 200);
  LogIn(http, "bob", "tablet");
  // Racing registrations of one id: exactly one wins, and its password is the account's.
  std::vector<HttpResponse> racers(8);
  {
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i) {
      threads.emplace_back([&, i] {
        while (!go.load()) std::this_thread::yield();
        racers[i] = RegisterUser(http, "dave", "pw-dave-" + std::to_string(i));
      });
    }
    go = true;
    for (std::thread& t : threads) t.join();
  }
  int winner = -1, conflicts = 0;
  for (int i = 0; i < 8; ++i) {
    if (racers[i].status == 201) {
      CHECK_MESSAGE(winner == -1, "a second 201: " << racers[i].Describe());
      winner = i;
    } else {
      CheckError(racers[i], 409, "conflict", "racing registration #" + std::to_string(i));
      ++conflicts;
    }
  }
  CHECK(conflicts == 7);
  REQUIRE(winner >= 0);
  for (int i = 0; i < 8; ++i) {
    HttpResponse login = http.Post(
        "/v1/sessions",
        {{"user_id", "dave"}, {"password", "pw-dave-" + std::to_string(i)}, {"device_id", "d"}});
    CHECK_MESSAGE(login.status == (i == winner ? 200 : 401), i << ": " << login.Describe());
  }

  // A wrong password and an unknown user are indistinguishable.
  HttpResponse wrong = http.Post(
      "/v1/sessions", {{"user_id", "alice"}, {"password", "wrong-password"}, {"device_id", "d"}});
  HttpResponse unknown = http.Post(
      "/v1/sessions", {{"user_id", "mallory"}, {"password", "wrong-password"}, {"device_id", "d"}});
  CheckError(wrong, 401, "unauthorized", "wrong password");
  CheckError(unknown, 401, "unauthorized", "unknown user");
  CHECK(wrong.body == unknown.body);
  CHECK(wrong.header("Content-Type") == unknown.header("Content-Type"));
  CHECK(http.Get("/v1/sync", alice.token).status == 200);  // alice's session survived

  CheckStillServing(stack, http, alice, "bob", "after");
}

TEST_CASE("api: sends beyond the burst are 429 rate_limited with Retry-After (--send-burst 10)") {
  TestStackOptions options = ApiOptions();
  // A slow refill (1/s) keeps the count exact however long the burst takes to send.
  options.uplink_args = {"--send-burst", "10", "--send-rate", "1"};
  TestStack stack(options);
  HttpClient http(stack.http_port());
  for (const char* u : {"alice", "bob", "carol"}) Register(http, u);
  Login alice = LogIn(http, "alice");
  Login bob = LogIn(http, "bob");
  Login carol = LogIn(http, "carol");

  std::vector<HttpResponse> replies;
  for (int i = 0; i < 15; ++i) {
    replies.push_back(Send(http, alice, "bob", "r" + std::to_string(i), i));
  }
  for (int i = 0; i < 10; ++i) {
    CAPTURE(i);
    CHECK_MESSAGE(replies[i].status == 201, replies[i].Describe());
  }
  int retry_after = 0;
  for (int i = 10; i < 15; ++i) {
    CheckError(replies[i], 429, "rate_limited", "send #" + std::to_string(i));
    const std::string header = replies[i].header("Retry-After");
    CAPTURE(header);
    REQUIRE_FALSE(header.empty());
    REQUIRE(header.find_first_not_of("0123456789") == std::string::npos);
    retry_after = std::stoi(header);
    CHECK(retry_after >= 1);
    CHECK(retry_after <= 2);  // one token at 1/s
  }
  // A retry of an accepted message is answered from the record even while limited.
  HttpResponse dup = Send(http, alice, "bob", "r3", 3);
  CHECK_MESSAGE(dup.status == 200, dup.Describe());
  CHECK(dup.json == replies[3].json);
  // The bucket is per user.
  SendOk(http, carol, "bob", "from-carol");

  // After Retry-After, the sender may send again.
  std::this_thread::sleep_for(std::chrono::seconds(retry_after) + 100ms);
  HttpResponse later = Send(http, alice, "bob", "r10", 10);
  CHECK_MESSAGE(later.status == 201, later.Describe());
  CHECK(later.json["conv_seq"] == 11);  // no conv_seq was spent on the refused sends

  std::vector<std::string> expected;
  for (int i = 0; i < 10; ++i) expected.push_back("r" + std::to_string(i));
  expected.push_back("from-carol");
  expected.push_back("r10");
  CHECK(Cmids(Inbox(http, bob)) == expected);
  CHECK(stack.Running(Component::kUplink));
}

}  // namespace
}  // namespace courier::testing
