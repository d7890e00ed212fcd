#include "uplink/auth_service.h"

#include "common/envelope.h"
#include "common/log.h"
#include "common/password.h"

namespace courier {

AuthService::AuthService(MessageStore* store, const JwtCodec* jwt, const Clock* clock,
                         IdGenerator* ids, int pbkdf2_iterations, int64_t token_ttl_s,
                         std::string reserved_user_id)
    : store_(store),
      jwt_(jwt),
      clock_(clock),
      ids_(ids),
      pbkdf2_iterations_(pbkdf2_iterations),
      token_ttl_s_(token_ttl_s),
      reserved_user_id_(std::move(reserved_user_id)),
      dummy_hash_(HashPassword("courier-dummy-password", pbkdf2_iterations)) {}

Status AuthService::Register(const RegisterRequest& req) {
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

Result<LoginResult> AuthService::Login(const LoginRequest& req) {
  auto hash = store_->PasswordHash(req.user_id);
  if (!hash.ok() && hash.status().code() != Status::Code::kNotFound) return hash.status();
  bool known = hash.ok();
  bool good = VerifyPassword(req.password, known ? *hash : dummy_hash_) && known;
  if (!good) {
    spdlog::info("login refused user={} device={}", req.user_id, req.device_id);
    return Status::Unauthorized("wrong user_id or password");
  }

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
  return Caller{claims->user_id, claims->device_id, claims->session_id};
}

}  // namespace courier
