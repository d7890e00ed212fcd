// Password storage: PBKDF2-HMAC-SHA256 with a random 16-byte salt (OpenSSL).
// Stored form: "pbkdf2-sha256$<iterations>$<salt b64url>$<hash b64url>", so the iteration
// count can be raised later without invalidating stored hashes.
//
// Thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace courier {

std::string HashPassword(std::string_view password, int iterations);

// True when `password` matches `stored`; false for a mismatch or a malformed `stored`.
// Takes the same time for a wrong password as for a right one.
bool VerifyPassword(std::string_view password, std::string_view stored);

}  // namespace courier
