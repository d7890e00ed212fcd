// Fresh identifiers: message ids, session ids and inbox epochs. An interface so tests can make
// them predictable.
//
// Thread-safety: implementations are thread-safe.
#pragma once

#include <cstdint>
#include <string>

namespace courier {

class IdGenerator {
 public:
  virtual ~IdGenerator() = default;
  // A ULID (26 characters of Crockford base32: 48-bit time, 80 random bits): unique across
  // the deployment without coordination, and roughly time-ordered.
  virtual std::string NewMessageId(int64_t now_ms) = 0;
  // 22 characters of base64url (128 random bits); a valid id (common/ids.h).
  virtual std::string NewSessionId() = 0;
  // 16 hex characters (64 random bits).
  virtual std::string NewEpoch() = 0;
};

// Randomness from OpenSSL's CSPRNG.
class RandomIdGenerator final : public IdGenerator {
 public:
  std::string NewMessageId(int64_t now_ms) override;
  std::string NewSessionId() override;
  std::string NewEpoch() override;
};

}  // namespace courier
