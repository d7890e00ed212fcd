// HS256 JSON Web Tokens (RFC 7519) for sessions: the uplink signs, the uplink and the broker
// plugin verify. Standard JWTs so that a clustered MQTT broker can validate them too.
//
// Claims: sub (user_id), dev (device_id), sid (session id), plat (platform), iat and exp
// (seconds since the Unix epoch), and role "service" for the downlink's broker account.
//
// Thread-safety: JwtCodec is immutable after construction; safe to share between threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace courier {

struct TokenClaims {
  std::string user_id;
  std::string device_id;
  std::string session_id;
  std::string platform;
  std::string role;        // empty for devices, "service" for internal accounts
  int64_t issued_at = 0;   // seconds since the Unix epoch
  int64_t expires_at = 0;  // seconds since the Unix epoch
};

class JwtCodec {
 public:
  // `secrets`: the first signs; all verify (two during a secret rotation).
  // REQUIRES: at least one non-empty secret.
  explicit JwtCodec(std::vector<std::string> secrets);

  // The compact JWS "header.payload.signature".
  std::string Sign(const TokenClaims& claims) const;

  // The claims of a token whose signature, algorithm (HS256 only) and expiry are good at
  // `now_s`; Unauthorized with a reason otherwise. Never throws, whatever the input.
  Result<TokenClaims> Verify(std::string_view token, int64_t now_s) const;

 private:
  std::vector<std::string> secrets_;
};

// Base64url without padding (RFC 4648 §5), as JWTs use.
std::string Base64UrlEncode(std::string_view bytes);
// False for characters outside the alphabet, for padding, or for an impossible length.
bool Base64UrlDecode(std::string_view text, std::string* out);

// Constant-time equality of two byte strings (length is not secret).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace courier
