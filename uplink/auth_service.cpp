#include "uplink/auth_service.h"

#include "common/envelope.h"
#include "common/log.h"
#include "common/password.h"
#include "uplink/client_address.h"

namespace courier {

AuthService::AuthService(MessageStore* store, RateLimiter* limiter, const JwtCodec* jwt,
                         const Clock* clock, IdGenerator* ids, int pbkdf2_iterations,
                         int64_t token_ttl_s, std::string reserved_user_id)
    : store_(store),
      limiter_(limiter),
      jwt_(jwt),
      clock_(clock),
      ids_(ids),
      pbkdf2_iterations_(pbkdf2_iterations),
      token_ttl_s_(token_ttl_s),
      reserved_user_id_(std::move(reserved_user_id)),
      dummy_hash_(HashPassword("courier-dummy-password", pbkdf2_iterations)) {}

Status AuthService::Refusal(const Status& limited, const char* what) {
  if (limited.code() != Status::Code::kRateLimited) return limited;  // e.g. Unavailable
  return Status::RateLimited(
      std::string(what) + "; try again in " + std::to_string(limited.retry_after_s()) + " s",
      limited.retry_after_s());
}

Status AuthService::Register(const RegisterRequest& req, std::string_view remote_addr) {
  const std::string address = ClientAddressOwner(remote_addr);
  Status limited = limiter_->Take(RateBucket::kRegistrationsPerAddress, address, clock_->NowMs());
  if (!limited.ok()) {
    if (limited.code() == Status::Code::kRateLimited) {
      spdlog::info("register rate_limited address={} retry_after_s={}", address,
                   limited.retry_after_s());
    }
    return Refusal(limited, "too many registrations from this address");
  }
  if (req.user_id == reserved_user_id_) {
    return Status::Conflict("user_id " + req.user_id + " is reserved");
  }
  NewUser u;
  u.user_id = req.user_id;
  u.password_hash = HashPassword(req.password, pbkdf2_iterations_);
  u.display_name = req.display_name;
  u.created_at_ms = clock_->NowMs();
  u.epoch = ids_->NewEpoch();
  Status s = store_->CreateUser(u);
  if (s.ok()) spdlog::info("register user={}", req.user_id);
  return s;
}

Result<LoginResult> AuthService::Login(const LoginRequest& req, std::string_view remote_addr) {
  // Tokens first, the hash after: a refused attempt costs two Redis round trips, no PBKDF2.
  const std::string address = ClientAddressOwner(remote_addr);
  const int64_t start_ms = clock_->NowMs();
  Status limited = limiter_->Take(RateBucket::kLoginFailuresPerAddress, address, start_ms);
  const char* refused_by = "too many failed logins from this address";
  if (limited.ok()) {
    limited = limiter_->Take(RateBucket::kLoginFailuresPerUser, req.user_id, start_ms);
    refused_by = "too many failed logins for this user";
    // Nothing was checked: the address's token was not used.
    if (!limited.ok()) limiter_->GiveBack(RateBucket::kLoginFailuresPerAddress, address, start_ms);
  }
  if (!limited.ok()) {
    if (limited.code() == Status::Code::kRateLimited) {
      spdlog::info("login rate_limited user={} address={} retry_after_s={} ({})", req.user_id,
                   address, limited.retry_after_s(), refused_by);
    }
    return Refusal(limited, refused_by);
  }
  // Only a wrong password keeps the tokens; a right one, or a check that could not be made,
  // gives them back. A failed give-back leaves the token taken until the refill: harmless.
  auto give_back = [&] {
    const int64_t now = clock_->NowMs();
    limiter_->GiveBack(RateBucket::kLoginFailuresPerUser, req.user_id, now);
    limiter_->GiveBack(RateBucket::kLoginFailuresPerAddress, address, now);
  };

  auto hash = store_->PasswordHash(req.user_id);
  if (!hash.ok() && hash.status().code() != Status::Code::kNotFound) {
    give_back();
    return hash.status();
  }
  bool known = hash.ok();
  bool good = VerifyPassword(req.password, known ? *hash : dummy_hash_) && known;
  if (!good) {
    spdlog::info("login refused user={} device={} address={}", req.user_id, req.device_id, address);
    return Status::Unauthorized("wrong user_id or password");
  }
  give_back();

  int64_t now_ms = clock_->NowMs();
  LoginResult out;
  out.user_id = req.user_id;
  out.device_id = req.device_id;
  out.platform = req.platform;
  out.session_id = ids_->NewSessionId();
  TokenClaims claims;
  claims.user_id = req.user_id;
  claims.device_id = req.device_id;
  claims.session_id = out.session_id;
  claims.platform = req.platform;
  claims.issued_at = now_ms / 1000;
  claims.expires_at = claims.issued_at + token_ttl_s_;
  out.expires_at_ms = claims.expires_at * 1000;
  out.token = jwt_->Sign(claims);

  NewSession session;
  session.user_id = req.user_id;
  session.device_id = req.device_id;
  session.platform = req.platform;
  session.session_id = out.session_id;
  session.expires_at_ms = out.expires_at_ms;
  session.kicked_payload = EncodeControl("session.kicked", "login_elsewhere", now_ms);
  auto opened = store_->OpenSession(session);
  if (!opened.ok()) return opened.status();
  spdlog::info("login user={} device={} platform={}{}", req.user_id, req.device_id, req.platform,
               opened->replaced_device_id ? " replaced_device=" + *opened->replaced_device_id : "");
  return out;
}

Status AuthService::Logout(const Caller& caller) {
  Status s =
      store_->CloseSession(caller, EncodeControl("session.kicked", "logout", clock_->NowMs()));
  if (s.ok()) spdlog::info("logout user={} device={}", caller.user_id, caller.device_id);
  return s;
}

Result<Caller> AuthService::Authenticate(std::string_view authorization) const {
  auto token = ParseBearer(authorization);
  if (!token.ok()) return token.status();
  auto claims = jwt_->Verify(*token, clock_->NowMs() / 1000);
  if (!claims.ok()) return claims.status();
  if (!claims->role.empty()) return Status::Unauthorized("service tokens cannot call the API");
  return Caller{claims->user_id, claims->device_id, claims->session_id, ""};
}

Status AuthService::CheckSession(const Caller& caller) const {
  // A presence query for nobody is exactly the session check every store call makes.
  return store_->Presence(caller, {}, clock_->NowMs()).status();
}

}  // namespace courier
