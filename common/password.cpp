#include "common/password.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <charconv>
#include <vector>

#include "common/jwt.h"

namespace courier {

namespace {

constexpr std::string_view kScheme = "pbkdf2-sha256";
constexpr size_t kSaltBytes = 16;
constexpr size_t kHashBytes = 32;
constexpr int kMaxIterations = 10'000'000;

std::string Derive(std::string_view password, std::string_view salt, int iterations) {
  std::string out(kHashBytes, '\0');
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()),
                    static_cast<int>(salt.size()), iterations, EVP_sha256(),
                    static_cast<int>(out.size()), reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

}  // namespace

std::string HashPassword(std::string_view password, int iterations) {
  std::string salt(kSaltBytes, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(salt.data()), static_cast<int>(salt.size()));
  return std::string(kScheme) + "$" + std::to_string(iterations) + "$" + Base64UrlEncode(salt) +
         "$" + Base64UrlEncode(Derive(password, salt, iterations));
}

bool VerifyPassword(std::string_view password, std::string_view stored) {
  auto parts = Split(stored, '$');
  if (parts.size() != 4 || parts[0] != kScheme) return false;
  int iterations = 0;
  auto [ptr, ec] = std::from_chars(parts[1].data(), parts[1].data() + parts[1].size(), iterations);
  if (ec != std::errc() || ptr != parts[1].data() + parts[1].size() || iterations < 1 ||
      iterations > kMaxIterations) {
    return false;
  }
  std::string salt, hash;
  if (!Base64UrlDecode(parts[2], &salt) || !Base64UrlDecode(parts[3], &hash)) return false;
  return ConstantTimeEquals(Derive(password, salt, iterations), hash);
}

}  // namespace courier
