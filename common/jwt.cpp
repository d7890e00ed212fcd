#include "common/jwt.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <nlohmann/json.hpp>

#include "common/ids.h"

namespace courier {

namespace {

using nlohmann::json;

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr size_t kMaxTokenLength = 4096;

std::string HmacSha256(std::string_view key, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(), &len);
  return std::string(reinterpret_cast<const char*>(mac.data()), len);
}

const std::string& EncodedHeader() {
  static const std::string kHeader = Base64UrlEncode(R"({"alg":"HS256","typ":"JWT"})");
  return kHeader;
}

// A string claim that must be present and a valid identifier.
bool ReadId(const json& payload, const char* name, std::string* out) {
  auto it = payload.find(name);
  if (it == payload.end() || !it->is_string()) return false;
  *out = it->get<std::string>();
  return IsValidId(*out);
}

}  // namespace

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t n = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i + 1 == bytes.size()) {
    uint32_t n = uint8_t(bytes[i]) << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
  } else if (i + 2 == bytes.size()) {
    uint32_t n = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
  }
  return out;
}

bool Base64UrlDecode(std::string_view text, std::string* out) {
  if (text.size() % 4 == 1) return false;
  out->clear();
  out->reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    size_t v = kAlphabet.find(c);
    if (v == std::string_view::npos) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  // Leftover bits must be zero, or two encodings would decode to the same bytes.
  return (acc & ((1u << bits) - 1)) == 0;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

JwtCodec::JwtCodec(std::vector<std::string> secrets) : secrets_(std::move(secrets)) {}

std::string JwtCodec::Sign(const TokenClaims& c) const {
  json payload = {{"sub", c.user_id}, {"iat", c.issued_at}, {"exp", c.expires_at}};
  if (!c.device_id.empty()) payload["dev"] = c.device_id;
  if (!c.session_id.empty()) payload["sid"] = c.session_id;
  if (!c.platform.empty()) payload["plat"] = c.platform;
  if (!c.role.empty()) payload["role"] = c.role;
  std::string signing_input = EncodedHeader() + "." + Base64UrlEncode(payload.dump());
  return signing_input + "." + Base64UrlEncode(HmacSha256(secrets_.front(), signing_input));
}

Result<TokenClaims> JwtCodec::Verify(std::string_view token, int64_t now_s) const {
  if (token.empty() || token.size() > kMaxTokenLength) {
    return Status::Unauthorized("malformed token");
  }
  size_t dot1 = token.find('.');
  size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return Status::Unauthorized("malformed token");
  }
  std::string_view signing_input = token.substr(0, dot2);
  std::string signature;
  if (!Base64UrlDecode(token.substr(dot2 + 1), &signature)) {
    return Status::Unauthorized("malformed token");
  }
  bool signature_ok = false;
  for (const auto& secret : secrets_) {
    signature_ok |= ConstantTimeEquals(HmacSha256(secret, signing_input), signature);
  }
  if (!signature_ok) return Status::Unauthorized("bad token signature");

  // The signature is ours, but the header still decides the algorithm: refuse anything that
  // is not exactly HS256 (no "none", no algorithm confusion).
  std::string header_text, payload_text;
  if (!Base64UrlDecode(token.substr(0, dot1), &header_text) ||
      !Base64UrlDecode(token.substr(dot1 + 1, dot2 - dot1 - 1), &payload_text)) {
    return Status::Unauthorized("malformed token");
  }
  json header = json::parse(header_text, nullptr, /*allow_exceptions=*/false);
  if (!header.is_object() || header.value("alg", json()) != "HS256") {
    return Status::Unauthorized("token algorithm must be HS256");
  }
  json payload = json::parse(payload_text, nullptr, /*allow_exceptions=*/false);
  if (!payload.is_object()) return Status::Unauthorized("malformed token payload");

  TokenClaims c;
  if (!ReadId(payload, "sub", &c.user_id)) return Status::Unauthorized("token lacks a subject");
  auto exp = payload.find("exp");
  if (exp == payload.end() || !exp->is_number_integer()) {
    return Status::Unauthorized("token lacks an expiry");
  }
  c.expires_at = exp->get<int64_t>();
  if (c.expires_at <= now_s) return Status::Unauthorized("token expired");
  if (auto iat = payload.find("iat"); iat != payload.end() && iat->is_number_integer()) {
    c.issued_at = iat->get<int64_t>();
  }
  if (auto role = payload.find("role"); role != payload.end()) {
    if (!role->is_string()) return Status::Unauthorized("malformed token role");
    c.role = role->get<std::string>();
  }
  if (c.role.empty()) {
    // A device token names its device, session and platform.
    if (!ReadId(payload, "dev", &c.device_id) || !ReadId(payload, "sid", &c.session_id)) {
      return Status::Unauthorized("token lacks device or session");
    }
    auto plat = payload.find("plat");
    if (plat == payload.end() || !plat->is_string() || !IsValidPlatform(plat->get<std::string>())) {
      return Status::Unauthorized("token lacks a platform");
    }
    c.platform = plat->get<std::string>();
  }
  return c;
}

}  // namespace courier
