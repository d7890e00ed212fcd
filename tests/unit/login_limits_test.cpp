// Login and registration limits (uplink/auth_service.h) on the in-memory store and rate limiter:
// which attempts count, what a refusal says, and that it comes before the password is hashed.
#include <doctest/doctest.h>

#include <atomic>
#include <string>

#include "tests/unit/memory_message_store.h"
#include "tests/unit/memory_rate_limiter.h"
#include "uplink/auth_service.h"

namespace courier::testing {
namespace {

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

// Small limits: 3 failed logins per user (one more every 10 s), 5 per address (one a second),
// 4 registrations per address (one every 100 s).
RateLimits SmallLimits() { return {{0.1, 3}, {1, 5}, {0.01, 4}}; }

struct Auth {
  Auth()
      : limiter(SmallLimits()),
        jwt({"test-secret"}),
        auth(&store, &limiter, &jwt, &clock, &ids, 1000, 3600, "courier-service") {}

  Status Register(const std::string& user, const std::string& addr = "192.0.2.1") {
    return auth.Register({user, "pw-" + user, user}, addr);
  }
  Result<LoginResult> Login(const std::string& user, const std::string& password,
                            const std::string& addr = "192.0.2.1") {
    return auth.Login({user, password, "d1", "cli"}, addr);
  }

  MemoryMessageStore store;
  FakeClock clock;
  CountingIds ids;
  MemoryRateLimiter limiter;
  JwtCodec jwt;
  AuthService auth;
};

using Code = Status::Code;

TEST_CASE("login limits: a user's failed logins beyond the burst are refused, before hashing") {
  Auth a;
  REQUIRE(a.Register("alice").ok());
  for (int i = 0; i < 3; ++i) {
    CHECK(a.Login("alice", "guess-" + std::to_string(i)).status().code() == Code::kUnauthorized);
  }
  Status limited = a.Login("alice", "guess-3").status();
  REQUIRE(limited.code() == Code::kRateLimited);
  CHECK(limited.retry_after_s() == 10);  // one token every 10 s
  CHECK(limited.message().find("for this user") != std::string::npos);
  // The right password too, while limited; and the refusal comes before the store is even asked
  // for the hash: with the store down it is still 429, not 503.
  CHECK(a.Login("alice", "pw-alice").status().code() == Code::kRateLimited);
  a.store.SetDown(true);
  CHECK(a.Login("alice", "pw-alice").status().code() == Code::kRateLimited);
  a.store.SetDown(false);

  // After Retry-After, one more attempt: the right password gets in, and gives its token back.
  a.clock.now_ms += limited.retry_after_s() * 1000;
  REQUIRE(a.Login("alice", "pw-alice").ok());
  REQUIRE(a.Login("alice", "pw-alice").ok());
  CHECK(a.Login("alice", "guess-4").status().code() == Code::kUnauthorized);
  CHECK(a.Login("alice", "pw-alice").status().code() == Code::kRateLimited);
}

TEST_CASE("login limits: successful logins never count") {
  Auth a;
  REQUIRE(a.Register("alice").ok());
  for (int i = 0; i < 50; ++i) REQUIRE(a.Login("alice", "pw-alice").ok());
  const int64_t now = a.clock.now_ms;
  CHECK(a.limiter.Tokens(RateBucket::kLoginFailuresPerUser, "alice", now) == 3);
  CHECK(a.limiter.Tokens(RateBucket::kLoginFailuresPerAddress, "192.0.2.1", now) == 5);
}

TEST_CASE("login limits: an unknown user id is limited exactly like a known one") {
  Auth a;
  REQUIRE(a.Register("alice").ok());
  for (const std::string user : {"alice", "ghost"}) {
    CAPTURE(user);
    const std::string addr = user == "alice" ? "192.0.2.1" : "192.0.2.2";
    for (int i = 0; i < 3; ++i) {
      CHECK(a.Login(user, "guess", addr).status().code() == Code::kUnauthorized);
    }
    Status limited = a.Login(user, "guess", addr).status();
    CHECK(limited.code() == Code::kRateLimited);
    CHECK(limited.retry_after_s() == 10);
  }
}

TEST_CASE("login limits: one address's failures across many users are refused, others are not") {
  Auth a;
  for (int i = 0; i < 5; ++i) {
    CHECK(a.Login("user" + std::to_string(i), "guess").status().code() == Code::kUnauthorized);
  }
  Status limited = a.Login("user5", "guess").status();
  REQUIRE(limited.code() == Code::kRateLimited);
  CHECK(limited.retry_after_s() == 1);
  CHECK(limited.message().find("from this address") != std::string::npos);
  // user5's own bucket was not touched by the refusal.
  CHECK(a.limiter.Tokens(RateBucket::kLoginFailuresPerUser, "user5", a.clock.now_ms) == 3);
  // Another address, and the next second for this one.
  CHECK(a.Login("user5", "guess", "192.0.2.99").status().code() == Code::kUnauthorized);
  a.clock.now_ms += 1000;
  CHECK(a.Login("user6", "guess").status().code() == Code::kUnauthorized);
}

TEST_CASE("login limits: a refusal by the user's bucket gives the address's token back") {
  Auth a;
  for (int i = 0; i < 3; ++i) a.Login("victim", "guess", "192.0.2." + std::to_string(10 + i));
  const double before =
      a.limiter.Tokens(RateBucket::kLoginFailuresPerAddress, "192.0.2.1", a.clock.now_ms);
  for (int i = 0; i < 10; ++i) {
    CHECK(a.Login("victim", "guess").status().code() == Code::kRateLimited);
  }
  CHECK(a.limiter.Tokens(RateBucket::kLoginFailuresPerAddress, "192.0.2.1", a.clock.now_ms) ==
        before);
}

TEST_CASE("login limits: IPv6 clients share their /64, IPv4-mapped ones count as IPv4") {
  Auth a;
  for (int i = 0; i < 5; ++i) {
    const std::string addr = "2001:db8:1:2::" + std::to_string(i + 1);
    CHECK(a.Login("u" + std::to_string(i), "guess", addr).status().code() == Code::kUnauthorized);
  }
  CHECK(a.Login("u5", "guess", "2001:db8:1:2:ffff::9").status().code() == Code::kRateLimited);
  CHECK(a.Login("u5", "guess", "2001:db8:1:3::1").status().code() == Code::kUnauthorized);
  for (int i = 0; i < 5; ++i) a.Login("v" + std::to_string(i), "guess", "::ffff:198.51.100.7");
  CHECK(a.Login("v5", "guess", "198.51.100.7").status().code() == Code::kRateLimited);
}

TEST_CASE("login limits: a limiter that is down is 503, and the login is not checked") {
  Auth a;
  REQUIRE(a.Register("alice").ok());
  a.limiter.SetDown(true);
  CHECK(a.Login("alice", "pw-alice").status().code() == Code::kUnavailable);
  CHECK(a.Register("bob").code() == Code::kUnavailable);
  a.limiter.SetDown(false);
  CHECK(a.Login("alice", "pw-alice").ok());
  CHECK(a.store.PasswordHash("bob").status().code() == Code::kNotFound);
}

TEST_CASE("registration limits: every registration counts per address, before hashing") {
  Auth a;
  CHECK(a.Register("alice").ok());
  CHECK(a.Register("alice").code() == Code::kConflict);            // counts too
  CHECK(a.Register("courier-service").code() == Code::kConflict);  // and so does this
  CHECK(a.Register("bob").ok());
  Status limited = a.Register("carol");
  REQUIRE(limited.code() == Code::kRateLimited);
  CHECK(limited.retry_after_s() == 100);
  CHECK(limited.message().find("registrations") != std::string::npos);
  CHECK(a.store.PasswordHash("carol").status().code() == Code::kNotFound);
  CHECK(a.Register("carol", "192.0.2.2").ok());
  a.clock.now_ms += 100 * 1000;
  CHECK(a.Register("dave").ok());
  CHECK(a.Register("erin").code() == Code::kRateLimited);
}

}  // namespace
}  // namespace courier::testing
