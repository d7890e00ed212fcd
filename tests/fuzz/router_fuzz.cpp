// Fuzz target: the whole HTTP API on plain values (uplink/routes.h Router::Handle): path
// matching and path ids, query values, the Authorization header, bodies, the services and the
// one place where an error becomes a reply. cpp-httplib (not ours) has split the request already;
// everything after that runs here, over the in-memory MessageStore of the unit tests and a
// SocialStore fake below that answers with fixed, valid data.
//
// Input, as lines: method, path, query ("k=v&k2=v2", not percent-decoded: the HTTP library
// decodes), Authorization, then the body (the rest). An Authorization line "alice" or "bob"
// becomes that user's valid bearer token; anything else is sent as it is. Each input gets a
// fresh API in which alice and bob are registered and logged in and alice has sent bob a message.
//
// Asserts: nothing throws; no request gets a 500 (a bug) or a 503 (the fakes are always up); an
// error reply is {"error":{"code","message"}}; a JSON reply is JSON and a 204 is empty; a request
// without a valid token gets a 2xx only from the endpoints that need none.
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <set>

#include "common/rate_limiter.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/unit/memory_message_store.h"
#include "uplink/routes.h"

namespace courier::fuzz {
namespace {

using nlohmann::json;

class FixedClock final : public Clock {
 public:
  int64_t NowMs() const override { return 1'800'000'000'000; }
};

class CountingIds final : public IdGenerator {
 public:
  std::string NewMessageId(int64_t) override { return "m" + std::to_string(++n_); }
  std::string NewSessionId() override { return "s" + std::to_string(++n_); }
  std::string NewEpoch() override { return "e" + std::to_string(++n_); }

 private:
  int n_ = 0;
};

// Attempts are never limited here: each input registers and logs in from one address.
class UnlimitedRateLimiter final : public RateLimiter {
 public:
  Status Take(RateBucket, const std::string&, int64_t) override { return Status::Ok(); }
  Status GiveBack(RateBucket, const std::string&, int64_t) override { return Status::Ok(); }
};

// Every group exists with the caller as owner, every conversation has the caller as a member,
// lists are empty; what changes state succeeds. Sends to groups and rooms are NotMember.
class FakeSocialStore final : public SocialStore {
 public:
  Status CreateGroup(const Caller&, const NewGroup&) override { return Status::Ok(); }
  Result<GroupInfo> GetGroup(const Caller& caller, const std::string& group_id) override {
    return GroupInfo{group_id, "Team", caller.user_id, 1, {{caller.user_id, "owner", 0}}};
  }
  Result<std::vector<std::string>> AddMembers(
      const Caller&, const std::string&,
      const std::vector<std::pair<std::string, std::string>>& users, int) override {
    std::vector<std::string> added;
    for (const auto& [user, rest] : users) added.push_back(user);
    return added;
  }
  Status RemoveMember(const Caller&, const std::string&, const std::string&, const std::string&,
                      int64_t) override {
    return Status::Ok();
  }
  Status SetRole(const Caller&, const std::string&, const std::string&, const std::string&,
                 int64_t) override {
    return Status::Ok();
  }
  Result<SendOutcome> SendGroup(const ConversationSend&, int64_t) override {
    return Status::NotMember("fake: not a member");
  }
  Status JoinRoom(const Caller&, const std::string&) override { return Status::Ok(); }
  Status LeaveRoom(const Caller&, const std::string&) override { return Status::Ok(); }
  Result<SendOutcome> SendRoom(const ConversationSend&, int64_t) override {
    return Status::NotMember("fake: not a member");
  }
  Result<Membership> MembershipOf(const Caller&, const std::string&) override {
    return Membership{true, true};
  }
  Result<std::string> SendFriendRequest(const Caller&, const std::string&, const FriendRequestInfo&,
                                        const Notice&) override {
    return std::string("fr1");
  }
  Result<std::vector<FriendRequestInfo>> FriendRequests(const Caller&) override {
    return std::vector<FriendRequestInfo>{};
  }
  Status AnswerFriendRequest(const Caller&, const std::string&, bool, const Notice&) override {
    return Status::Ok();
  }
  Result<std::vector<FriendInfo>> Friends(const Caller&) override {
    return std::vector<FriendInfo>{};
  }
  Status RemoveFriend(const Caller&, const std::string&, const Notice&) override {
    return Status::Ok();
  }
  Status SetBlocked(const Caller&, const std::string&, bool) override { return Status::Ok(); }
  Result<std::vector<std::string>> Blocks(const Caller&) override {
    return std::vector<std::string>{};
  }
  Result<std::vector<ConversationSummary>> Conversations(const Caller&, int) override {
    return std::vector<ConversationSummary>{};
  }
  Result<int64_t> MarkRead(const Caller&, const std::string&, const std::string&, int64_t conv_seq,
                           const std::string&, int64_t) override {
    return conv_seq;
  }
  Result<MessageRef> FindMessage(const Caller&, const std::string&) override {
    return Status::NotFound("fake: no such message");
  }
  Status Recall(const Caller&, const MessageRef&, const Notice&) override { return Status::Ok(); }
  Status Signal(const Caller&, const Recipient&, const std::string&, const std::string&,
                int64_t) override {
    return Status::Ok();
  }
};

// The API as the uplink wires it, with fakes behind it. PBKDF2 runs one iteration: the fuzzer
// is after the request path, not the hash.
struct Api {
  Api()
      : jwt({"fuzz-secret"}),
        auth(&store, &limiter, &jwt, &clock, &ids, /*pbkdf2_iterations=*/1,
             config.limits.token_ttl_s, "courier-service"),
        messaging(&store, &social, &clock, &ids, config.limits),
        groups(&social, &clock, &ids, config.limits),
        friends(&social, &clock, &ids),
        router(RouteDeps{&auth, &messaging, &metrics, &config, [this] { return store.Ping(); },
                         &groups, &friends}) {}

  std::string LogIn(const std::string& user) {
    FUZZ_CHECK(auth.Register({user, "pw", user}, kAddress).ok());
    auto l = auth.Login({user, "pw", "d1", "cli"}, kAddress);
    FUZZ_CHECK(l.ok());
    return l->token;
  }

  Config config;
  static constexpr std::string_view kAddress = "192.0.2.1";

  testing::MemoryMessageStore store;
  UnlimitedRateLimiter limiter;
  FakeSocialStore social;
  FixedClock clock;
  CountingIds ids;
  JwtCodec jwt;
  MetricsRegistry metrics;
  AuthService auth;
  MessagingService messaging;
  GroupService groups;
  FriendService friends;
  Router router;
};

std::multimap<std::string, std::string> SplitQuery(std::string_view query) {
  std::multimap<std::string, std::string> out;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    size_t eq = pair.find('=');
    out.emplace(std::string(pair.substr(0, eq)),
                eq == std::string_view::npos ? std::string() : std::string(pair.substr(eq + 1)));
    query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
  }
  return out;
}

void CheckReply(const ApiRequest& req, const ApiResponse& res, const std::string& route,
                bool authenticated) {
  static const std::set<int> kStatuses = {200, 201, 202, 204, 400, 401,
                                          403, 404, 405, 409, 413, 429};
  if (!kStatuses.contains(res.status)) {
    std::fprintf(stderr, "status %d for %s %s: %s\n", res.status, req.method.c_str(),
                 req.path.c_str(), res.body.c_str());
  }
  FUZZ_CHECK(kStatuses.contains(res.status));
  FUZZ_CHECK(route == "unmatched" || route.starts_with("/"));
  if (res.status == 204) {
    FUZZ_CHECK(res.body.empty());
  } else if (res.content_type == "application/json") {
    json body = json::parse(res.body, nullptr, /*allow_exceptions=*/false);
    FUZZ_CHECK(!body.is_discarded());
    if (res.status >= 400) {
      FUZZ_CHECK(body.is_object() && body.contains("error"));
      FUZZ_CHECK(body["error"].value("code", json()).is_string());
      FUZZ_CHECK(body["error"].value("message", json()).is_string());
    }
  }
  static const std::set<std::string> kAnonymous = {"/v1/users", "/v1/sessions", "/healthz",
                                                   "/readyz", "/metrics"};
  if (res.status < 300 && !authenticated) FUZZ_CHECK(kAnonymous.contains(route));
}

}  // namespace
}  // namespace courier::fuzz

// The services log every register and login: millions of lines would slow the run to a crawl.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace courier;
  using namespace courier::fuzz;
  FuzzInput in(data, size);
  NoThrow([&] {
    Api api;
    const std::string alice = api.LogIn("alice");
    const std::string bob = api.LogIn("bob");
    auto caller = api.auth.Authenticate("Bearer " + alice);
    FUZZ_CHECK(caller.ok());
    SendRequest hello{{Recipient::Kind::kUser, "bob"}, "c1", "text", R"({"text":"hi"})"};
    FUZZ_CHECK(api.messaging.Send(*caller, hello).ok());

    ApiRequest req;
    req.method = std::string(in.TakeLine());
    req.path = std::string(in.TakeLine());
    req.query = SplitQuery(in.TakeLine());
    std::string_view who = in.TakeLine();
    req.authorization = who == "alice" ? "Bearer " + alice
                        : who == "bob" ? "Bearer " + bob
                                       : std::string(who);
    req.body = std::string(in.TakeRest());
    req.remote_addr = std::string(Api::kAddress);
    bool authenticated = api.auth.Authenticate(req.authorization).ok();

    std::string route;
    ApiResponse res = api.router.Handle(req, &route);
    CheckReply(req, res, route, authenticated);
  });
  return 0;
}
