#include "uplink/id_generator.h"

#include <openssl/rand.h>

#include <array>
#include <cstdio>

#include "common/jwt.h"

namespace courier {

namespace {

template <size_t N>
std::array<unsigned char, N> RandomBytes() {
  std::array<unsigned char, N> b{};
  RAND_bytes(b.data(), static_cast<int>(b.size()));
  return b;
}

}  // namespace

std::string RandomIdGenerator::NewMessageId(int64_t now_ms) {
  static constexpr char kCrockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  auto rnd = RandomBytes<10>();
  // 128 bits, 48 of time then 80 of randomness, as 26 base32 digits (130 bits: the first
  // digit is always 0-7).
  unsigned __int128 v =
      static_cast<unsigned __int128>(static_cast<uint64_t>(now_ms) & ((uint64_t{1} << 48) - 1))
      << 80;
  for (size_t i = 0; i < rnd.size(); ++i) {
    v |= static_cast<unsigned __int128>(rnd[i]) << (8 * (rnd.size() - 1 - i));
  }
  std::string out(26, '0');
  for (int i = 25; i >= 0; --i) {
    out[i] = kCrockford[static_cast<size_t>(v & 31)];
    v >>= 5;
  }
  return out;
}

std::string RandomIdGenerator::NewSessionId() {
  auto b = RandomBytes<16>();
  return Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
}

std::string RandomIdGenerator::NewEpoch() {
  auto b = RandomBytes<8>();
  char hex[17];
  for (size_t i = 0; i < b.size(); ++i) std::snprintf(hex + 2 * i, 3, "%02x", b[i]);
  return std::string(hex, 16);
}

}  // namespace courier
