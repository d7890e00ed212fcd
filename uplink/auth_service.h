// Accounts and sessions: registration, login (one live session per user and platform),
// logout, and turning a bearer token into the Caller it speaks for.
//
// Thread-safety: thread-safe (its collaborators are).
#pragma once

#include <string>

#include "common/clock.h"
#include "common/config.h"
#include "common/jwt.h"
#include "common/message_store.h"
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
  AuthService(MessageStore* store, const JwtCodec* jwt, const Clock* clock, IdGenerator* ids,
              int pbkdf2_iterations, int64_t token_ttl_s, std::string reserved_user_id);

  // Conflict if the user id is taken.
  Status Register(const RegisterRequest& req);
  // Unauthorized for a wrong password and for an unknown user alike (same answer, same time).
  Result<LoginResult> Login(const LoginRequest& req);
  // Ends the caller's session: its token stops working and its device is disconnected.
  Status Logout(const Caller& caller);
  // The caller behind `authorization` ("Bearer <jwt>"): signature and expiry only. Whether the
  // session is still live is checked by the store operation the request then makes, in the
  // same round trip (every store call takes the Caller).
  Result<Caller> Authenticate(std::string_view authorization) const;

 private:
  MessageStore* store_;
  const JwtCodec* jwt_;
  const Clock* clock_;
  IdGenerator* ids_;
  const int pbkdf2_iterations_;
  const int64_t token_ttl_s_;
  const std::string reserved_user_id_;
  const std::string dummy_hash_;  // verified against for unknown users, to take the same time
};

}  // namespace courier
