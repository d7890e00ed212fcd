// Accounts and sessions: registration, login (one live session per user and platform),
// logout, and turning a bearer token into the Caller it speaks for.
//
// Login and registration are rate limited (common/rate_limiter.h) before any password is hashed,
// so the limits also bound the CPU spent on PBKDF2:
//  - a login takes a token from its client address's bucket, then from its user id's bucket
//    (registered or not: an unknown id is limited exactly like a known one, so a 429 tells
//    nothing about which ids exist), and gives both back when the password is right. Only
//    failed logins count, so a user logging in on many devices, or many users behind one NAT,
//    are never limited; an address or user id with too many failures gets 429 until its bucket
//    refills. A login refused by the user's bucket gives the address's token back (nothing was
//    checked).
//  - a registration takes a token from its client address's bucket, whatever the outcome.
//
// Thread-safety: thread-safe (its collaborators are).
#pragma once

#include <string>

#include "common/clock.h"
#include "common/config.h"
#include "common/jwt.h"
#include "common/message_store.h"
#include "common/rate_limiter.h"
#include "uplink/id_generator.h"
#include "uplink/request_codec.h"

namespace courier {

struct LoginResult {
  std::string token;
  int64_t expires_at_ms = 0;
  std::string user_id;
  std::string device_id;
  std::string session_id;
  std::string platform;
};

class AuthService {
 public:
  // All pointers must outlive the service.
  // `reserved_user_id`: a user id nobody may register (the broker's service account).
  AuthService(MessageStore* store, RateLimiter* limiter, const JwtCodec* jwt, const Clock* clock,
              IdGenerator* ids, int pbkdf2_iterations, int64_t token_ttl_s,
              std::string reserved_user_id);

  // `remote_addr`: the client's address (ApiRequest::remote_addr), for the per-address limit.
  // Conflict if the user id is taken; RateLimited (before hashing) when the address registered
  // too often.
  Status Register(const RegisterRequest& req, std::string_view remote_addr);
  // Unauthorized for a wrong password and for an unknown user alike (same answer, same time).
  // RateLimited, before the password is hashed, when the client's address or the user id has
  // used up its failed logins; the same for a known and an unknown user id.
  Result<LoginResult> Login(const LoginRequest& req, std::string_view remote_addr);
  // Ends the caller's session: its token stops working and its device is disconnected.
  Status Logout(const Caller& caller);
  // The caller behind `authorization` ("Bearer <jwt>"): signature and expiry only. Whether the
  // session is still live is checked by the store operation the request then makes, in the
  // same round trip (every store call takes the Caller).
  Result<Caller> Authenticate(std::string_view authorization) const;
  // OK while the caller's session is live; Unauthorized once it ended, Unavailable when Redis
  // fails. For answers that touch no other state (GET /v1/mqtt).
  Status CheckSession(const Caller& caller) const;

 private:
  // A RateLimited status for the login or registration limit that refused, with its wait.
  static Status Refusal(const Status& limited, const char* what);

  MessageStore* store_;
  RateLimiter* limiter_;
  const JwtCodec* jwt_;
  const Clock* clock_;
  IdGenerator* ids_;
  const int pbkdf2_iterations_;
  const int64_t token_ttl_s_;
  const std::string reserved_user_id_;
  const std::string dummy_hash_;  // verified against for unknown users, to take the same time
};

}  // namespace courier
