// The HTTP API end to end on plain values: route table, auth, services, codecs and the error
// policy, over the in-memory store. No sockets.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "tests/unit/memory_message_store.h"
#include "tests/unit/memory_rate_limiter.h"
#include "uplink/routes.h"

namespace courier::testing {

namespace {

using nlohmann::json;

class FakeClock final : public Clock {
 public:
  int64_t NowMs() const override { return now_ms; }
  int64_t now_ms = 1'800'000'000'000;
};

class CountingIds final : public IdGenerator {
 public:
  std::string NewMessageId(int64_t) override { return "m" + std::to_string(++n_); }
  std::string NewSessionId() override { return "s" + std::to_string(++n_); }
  std::string NewEpoch() override { return "e" + std::to_string(++n_); }

 private:
  std::atomic<int> n_{0};
};

struct Api {
  Api()
      : limiter(RateLimitsOf(config.limits)),
        jwt({"test-secret"}),
        auth(&store, &limiter, &jwt, &clock, &ids, 1000, config.limits.token_ttl_s,
             "courier-service"),
        messaging(&store, /*social=*/nullptr, &clock, &ids, config.limits),
        router(RouteDeps{&auth, &messaging, &metrics, &config, [this] { return store.Ping(); }}) {}

  static RateLimits RateLimitsOf(const Limits& l) {
    return {{l.login_rate_per_user, l.login_burst_per_user},
            {l.login_rate_per_address, l.login_burst_per_address},
            {l.register_rate_per_address, l.register_burst_per_address}};
  }

  ApiResponse Call(const std::string& method, const std::string& path, const std::string& body = "",
                   const std::string& token = "",
                   std::multimap<std::string, std::string> query = {},
                   const std::string& remote_addr = "192.0.2.1") {
    ApiRequest req;
    req.remote_addr = remote_addr;
    req.method = method;
    req.path = path;
    req.body = body;
    req.query = std::move(query);
    if (!token.empty()) req.authorization = "Bearer " + token;
    std::string route;
    return router.Handle(req, &route);
  }

  std::string Login(const std::string& user, const std::string& device = "d1",
                    const std::string& platform = "cli") {
    Call("POST", "/v1/users", json{{"user_id", user}, {"password", "pw"}}.dump());
    auto r = Call(
        "POST", "/v1/sessions",
        json{{"user_id", user}, {"password", "pw"}, {"device_id", device}, {"platform", platform}}
            .dump());
    REQUIRE(r.status == 200);
    return json::parse(r.body)["token"];
  }

  ApiResponse Send(const std::string& token, const std::string& to, const std::string& cmid) {
    return Call("POST", "/v1/messages",
                json{{"to", to}, {"cmid", cmid}, {"body", {{"text", "hi"}}}}.dump(), token);
  }

  Config config;
  MemoryMessageStore store;
  FakeClock clock;
  CountingIds ids;
  MemoryRateLimiter limiter;
  JwtCodec jwt;
  MetricsRegistry metrics;
  AuthService auth;
  MessagingService messaging;
  Router router;
};

std::string ErrorCode(const ApiResponse& r) { return json::parse(r.body)["error"]["code"]; }

}  // namespace

TEST_CASE("the mqtt block names the WebSocket address only when one is configured") {
  Api api;
  api.Login("alice");
  auto login = [&api] {
    auto r = api.Call("POST", "/v1/sessions",
                      R"({"user_id":"alice","password":"pw","device_id":"web1","platform":"web"})");
    REQUIRE(r.status == 200);
    return json::parse(r.body);
  };
  CHECK_FALSE(login()["mqtt"].contains("ws_url"));
  api.config.mqtt.ws_url = "ws://127.0.0.1:8083";
  json l = login();
  CHECK(l["mqtt"]["ws_url"] == "ws://127.0.0.1:8083");
  CHECK(l["mqtt"]["client_id"] == "alice:web1");
  auto mqtt = api.Call("GET", "/v1/mqtt", "", l["token"]);
  REQUIRE(mqtt.status == 200);
  CHECK(json::parse(mqtt.body)["ws_url"] == "ws://127.0.0.1:8083");
}

TEST_CASE("register, log in, send, sync, ack") {
  Api api;
  auto reg = api.Call("POST", "/v1/users", R"({"user_id":"alice","password":"pw"})");
  CHECK(reg.status == 201);
  CHECK(json::parse(reg.body) == json{{"user_id", "alice"}});
  CHECK(api.Call("POST", "/v1/users", R"({"user_id":"courier-service","password":"x"})").status ==
        409);
  auto dup = api.Call("POST", "/v1/users", R"({"user_id":"alice","password":"x"})");
  CHECK(dup.status == 409);
  CHECK(ErrorCode(dup) == "conflict");

  auto login = api.Call("POST", "/v1/sessions",
                        R"({"user_id":"alice","password":"pw","device_id":"phone"})");
  REQUIRE(login.status == 200);
  json l = json::parse(login.body);
  CHECK(l["user_id"] == "alice");
  CHECK(l["device_id"] == "phone");
  CHECK(l["expires_at"] == api.clock.now_ms + 24 * 3600 * 1000);
  CHECK(l["mqtt"]["client_id"] == "alice:phone");
  CHECK(l["mqtt"]["username"] == "alice");
  CHECK(l["mqtt"]["password"] == l["token"]);
  CHECK(l["mqtt"]["topics"] ==
        json{{"inbox", "courier/u/alice"}, {"device", "courier/d/alice/phone"}});

  std::string bob = api.Login("bob");
  auto sent = api.Send(l["token"], "user:bob", "c1");
  REQUIRE(sent.status == 201);
  json s = json::parse(sent.body);
  CHECK(s["conv"] == "u:alice:bob");
  CHECK(s["conv_seq"] == 1);
  CHECK(s["ts"] == api.clock.now_ms);
  auto again = api.Send(l["token"], "user:bob", "c1");
  CHECK(again.status == 200);
  CHECK(json::parse(again.body) == s);

  auto sync = api.Call("GET", "/v1/sync", "", bob, {{"after", "0"}});
  REQUIRE(sync.status == 200);
  json page = json::parse(sync.body);
  REQUIRE(page["items"].size() == 1);
  CHECK(page["items"][0]["id"] == s["id"]);
  CHECK(page["items"][0]["epoch"] == page["epoch"]);
  CHECK(page["next_after"] == 1);
  CHECK(page["has_more"] == false);

  auto ack = api.Call("POST", "/v1/acks", R"({"seq":1})", bob);
  REQUIRE(ack.status == 200);
  CHECK(json::parse(ack.body) == json{{"latest_seq", 1}, {"epoch", page["epoch"]}});
}

TEST_CASE("wrong password and unknown user get the same 401") {
  Api api;
  api.Login("alice");
  auto wrong =
      api.Call("POST", "/v1/sessions", R"({"user_id":"alice","password":"nope","device_id":"d"})");
  auto unknown =
      api.Call("POST", "/v1/sessions", R"({"user_id":"nobody","password":"pw","device_id":"d"})");
  CHECK(wrong.status == 401);
  CHECK(unknown.status == 401);
  CHECK(wrong.body == unknown.body);
}

TEST_CASE("authentication: missing, forged, expired and revoked tokens are 401") {
  Api api;
  std::string alice = api.Login("alice");
  CHECK(api.Call("GET", "/v1/sync").status == 401);
  CHECK(ErrorCode(api.Call("GET", "/v1/sync")) == "unauthorized");
  CHECK(api.Call("GET", "/v1/sync", "", "garbage").status == 401);
  std::string forged = JwtCodec({"other"}).Sign(*api.jwt.Verify(alice, api.clock.now_ms / 1000));
  CHECK(api.Call("GET", "/v1/sync", "", forged).status == 401);

  CHECK(api.Call("DELETE", "/v1/sessions/current", "", alice).status == 204);
  CHECK(api.Call("GET", "/v1/sync", "", alice).status == 401);
  CHECK(api.Send(alice, "user:alice", "x").status == 401);
  CHECK(api.Call("DELETE", "/v1/sessions/current", "", alice).status == 401);

  std::string fresh = api.Login("alice", "d2");
  api.clock.now_ms += 25LL * 3600 * 1000;  // past the 24 h lifetime
  CHECK(api.Call("GET", "/v1/sync", "", fresh).status == 401);
}

TEST_CASE("single sign-on per platform, across platforms both live") {
  Api api;
  std::string cli1 = api.Login("alice", "laptop", "cli");
  std::string ios = api.Login("alice", "phone", "ios");
  std::string cli2 = api.Login("alice", "desktop", "cli");
  CHECK(api.Call("GET", "/v1/sync", "", cli1).status == 401);
  CHECK(api.Call("GET", "/v1/sync", "", cli2).status == 200);
  CHECK(api.Call("GET", "/v1/sync", "", ios).status == 200);
  auto deliveries = api.store.Deliveries();
  REQUIRE_FALSE(deliveries.empty());
  CHECK(deliveries.back().kind == "control");
  CHECK(deliveries.back().device_id == "laptop");
  CHECK(json::parse(deliveries.back().payload)["reason"] == "login_elsewhere");
}

// Group and room sends go to the SocialStore, which this fixture does not have; they are
// covered by the integration tests against Redis (tests/integration/groups_test.cpp).
TEST_CASE("send errors: unknown user 404, bad input 400/413") {
  Api api;
  std::string alice = api.Login("alice");
  auto ghost = api.Send(alice, "user:ghost", "c");
  CHECK(ghost.status == 404);
  CHECK(ErrorCode(ghost) == "not_found");
  auto bad = api.Call("POST", "/v1/messages", "{oops", alice);
  CHECK(bad.status == 400);
  CHECK(ErrorCode(bad) == "invalid_json");
  auto field = api.Call("POST", "/v1/messages", R"({"to":"bob","cmid":"c","body":1})", alice);
  CHECK(field.status == 400);
  CHECK(ErrorCode(field) == "invalid_field");
  std::string big =
      json{{"to", "user:alice"}, {"cmid", "c"}, {"body", std::string(17000, 'x')}}.dump();
  auto large = api.Call("POST", "/v1/messages", big, alice);
  CHECK(large.status == 413);
  CHECK(ErrorCode(large) == "too_large");
  CHECK(api.Call("GET", "/v1/sync", "", alice, {{"after", "-1"}}).status == 400);
  CHECK(api.Call("GET", "/v1/sync", "", alice, {{"after", "x"}}).status == 400);
}

TEST_CASE("429 with Retry-After past the burst") {
  Api api;
  std::string alice = api.Login("alice");
  int created = 0;
  ApiResponse last;
  for (int i = 0; i < 101; ++i) {
    last = api.Send(alice, "user:alice", "r" + std::to_string(i));
    created += last.status == 201;
  }
  CHECK(created == 100);
  CHECK(last.status == 429);
  CHECK(ErrorCode(last) == "rate_limited");
  CHECK(last.headers.count("Retry-After") == 1);
}

TEST_CASE("a store outage is 503 with Retry-After, and readiness says so") {
  Api api;
  std::string alice = api.Login("alice");
  api.store.SetDown(true);
  auto r = api.Send(alice, "user:alice", "c");
  CHECK(r.status == 503);
  CHECK(ErrorCode(r) == "unavailable");
  CHECK(r.headers.at("Retry-After") == "1");
  CHECK(api.Call("GET", "/readyz").status == 503);
  CHECK(api.Call("GET", "/healthz").status == 200);
  api.store.SetDown(false);
  CHECK(api.Send(alice, "user:alice", "c").status == 201);
  CHECK(api.Call("GET", "/readyz").status == 200);
}

// Who may read a conversation is decided with the SocialStore (Redis), so history paging and
// its members-only rule are tested in tests/integration (conversations_test, groups_test).
// A conversation id that is not canonical is refused before any store is asked.
TEST_CASE("history: a conversation id that is not canonical is 400") {
  Api api;
  std::string bob = api.Login("bob");
  auto r = api.Call("GET", "/v1/conversations/u:bob:alice/messages", "", bob);
  CHECK(r.status == 400);
  CHECK(ErrorCode(r) == "invalid_field");
}

TEST_CASE("presence") {
  Api api;
  std::string alice = api.Login("alice");
  api.Login("bob");
  api.store.SetOnline("bob", "d1", api.clock.now_ms + 60000);
  auto p = api.Call("GET", "/v1/presence", "", alice, {{"users", "bob,alice"}});
  REQUIRE(p.status == 200);
  json j = json::parse(p.body);
  CHECK(j["bob"]["online"] == true);
  CHECK(j["alice"]["online"] == false);
  CHECK(j["alice"]["last_seen"].is_null());
}

TEST_CASE("unknown paths are 404, wrong methods 405, both in the error format") {
  Api api;
  auto missing = api.Call("GET", "/v1/nothing");
  CHECK(missing.status == 404);
  CHECK(ErrorCode(missing) == "not_found");
  auto method = api.Call("PUT", "/v1/messages");
  CHECK(method.status == 405);
  CHECK(ErrorCode(method) == "method_not_allowed");
  auto metrics = api.Call("GET", "/metrics");
  CHECK(metrics.status == 200);
  CHECK(metrics.content_type.rfind("text/plain", 0) == 0);
}

}  // namespace courier::testing
