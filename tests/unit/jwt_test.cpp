#include <doctest/doctest.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <nlohmann/json.hpp>

#include "common/jwt.h"

namespace courier {

namespace {

TokenClaims DeviceClaims() {
  TokenClaims c;
  c.user_id = "alice";
  c.device_id = "phone";
  c.session_id = "s1";
  c.platform = "ios";
  c.issued_at = 1000;
  c.expires_at = 2000;
  return c;
}

// A token with exactly this header and payload, correctly HMAC-SHA256-signed with `secret`.
std::string SignRaw(const std::string& header, const std::string& payload,
                    const std::string& secret) {
  std::string input = Base64UrlEncode(header) + "." + Base64UrlEncode(payload);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return input + "." + Base64UrlEncode(std::string(reinterpret_cast<char*>(mac), len));
}

}  // namespace

TEST_CASE("base64url round-trips every length and rejects bad text") {
  std::string bytes;
  for (int n = 0; n < 40; ++n) {
    std::string decoded;
    REQUIRE(Base64UrlDecode(Base64UrlEncode(bytes), &decoded));
    CHECK(decoded == bytes);
    bytes.push_back(static_cast<char>(n * 37 + 11));
  }
  std::string out;
  CHECK_FALSE(Base64UrlDecode("abc=", &out));  // padding is not base64url-in-JWT
  CHECK_FALSE(Base64UrlDecode("a", &out));     // impossible length
  CHECK_FALSE(Base64UrlDecode("ab+/", &out));  // standard alphabet
  CHECK_FALSE(Base64UrlDecode("AB", &out));    // non-zero leftover bits
}

TEST_CASE("a signed token verifies and carries its claims") {
  JwtCodec jwt({"secret-one"});
  std::string token = jwt.Sign(DeviceClaims());
  auto c = jwt.Verify(token, 1500);
  REQUIRE_MESSAGE(c.ok(), c.status().ToString());
  CHECK(c->user_id == "alice");
  CHECK(c->device_id == "phone");
  CHECK(c->session_id == "s1");
  CHECK(c->platform == "ios");
  CHECK(c->expires_at == 2000);
  CHECK(c->role.empty());

  std::string header;
  REQUIRE(Base64UrlDecode(token.substr(0, token.find('.')), &header));
  CHECK(nlohmann::json::parse(header)["alg"] == "HS256");
}

TEST_CASE("expired, tampered, foreign and malformed tokens are refused") {
  JwtCodec jwt({"secret-one"});
  std::string token = jwt.Sign(DeviceClaims());

  CHECK(jwt.Verify(token, 2000).status().code() == Status::Code::kUnauthorized);  // exp <= now
  CHECK(jwt.Verify(token, 5000).status().message() == "token expired");
  CHECK_FALSE(JwtCodec({"other-secret"}).Verify(token, 1500).ok());

  std::string tampered = token;
  tampered[token.find('.') + 5] ^= 1;  // flip a payload character
  CHECK_FALSE(jwt.Verify(tampered, 1500).ok());

  for (const std::string& bad :
       {std::string(), std::string("abc"), std::string("a.b"), std::string("a.b.c.d"),
        std::string(".."), token + ".", token.substr(0, token.rfind('.')), std::string(5000, 'a'),
        std::string("\xff\xfe.\x00.x", 7)}) {
    CHECK_FALSE(jwt.Verify(bad, 1500).ok());
  }
}

TEST_CASE("only HS256 is accepted, whatever the header claims") {
  // alg "none" with an empty signature, and alg "HS512" with a valid HS256 signature.
  JwtCodec jwt({"k"});
  std::string payload = R"({"sub":"alice","dev":"d","sid":"s","plat":"cli","exp":9999})";
  std::string none = Base64UrlEncode(R"({"alg":"none"})") + "." + Base64UrlEncode(payload) + ".";
  CHECK_FALSE(jwt.Verify(none, 1).ok());

  // Correctly signed, but the header names another algorithm (or none at all).
  CHECK(jwt.Verify(SignRaw(R"({"alg":"HS256"})", payload, "k"), 1).ok());
  CHECK_FALSE(jwt.Verify(SignRaw(R"({"alg":"HS512"})", payload, "k"), 1).ok());
  CHECK_FALSE(jwt.Verify(SignRaw(R"({"alg":"none"})", payload, "k"), 1).ok());
  CHECK_FALSE(jwt.Verify(SignRaw(R"({"typ":"JWT"})", payload, "k"), 1).ok());
  CHECK_FALSE(jwt.Verify(SignRaw("[]", payload, "k"), 1).ok());
  // A correctly signed payload that is not an object, or lacks an expiry.
  CHECK_FALSE(jwt.Verify(SignRaw(R"({"alg":"HS256"})", "[1]", "k"), 1).ok());
  CHECK_FALSE(jwt.Verify(SignRaw(R"({"alg":"HS256"})",
                                 R"({"sub":"a","dev":"d","sid":"s","plat":"cli"})", "k"),
                         1)
                  .ok());
  CHECK_FALSE(
      jwt.Verify(SignRaw(R"({"alg":"HS256"})",
                         R"({"sub":"a","dev":"d","sid":"s","plat":"cli","exp":"9999"})", "k"),
                 1)
          .ok());
}

TEST_CASE("a rotation accepts the previous secret and signs with the new one") {
  JwtCodec old_codec({"old"});
  JwtCodec rotating({"new", "old"});
  std::string old_token = old_codec.Sign(DeviceClaims());
  CHECK(rotating.Verify(old_token, 1500).ok());
  std::string new_token = rotating.Sign(DeviceClaims());
  CHECK_FALSE(old_codec.Verify(new_token, 1500).ok());
  CHECK(JwtCodec({"new"}).Verify(new_token, 1500).ok());
}

TEST_CASE("device tokens must name device, session and a known platform") {
  JwtCodec jwt({"k"});
  TokenClaims c = DeviceClaims();
  c.platform = "toaster";
  CHECK_FALSE(jwt.Verify(jwt.Sign(c), 1500).ok());
  c = DeviceClaims();
  c.device_id.clear();
  CHECK_FALSE(jwt.Verify(jwt.Sign(c), 1500).ok());
  c = DeviceClaims();
  c.user_id = "bad id";
  CHECK_FALSE(jwt.Verify(jwt.Sign(c), 1500).ok());

  TokenClaims service;
  service.user_id = "courier-service";
  service.role = "service";
  service.expires_at = 2000;
  auto s = jwt.Verify(jwt.Sign(service), 1500);
  REQUIRE(s.ok());
  CHECK(s->role == "service");
}

TEST_CASE("constant-time comparison") {
  CHECK(ConstantTimeEquals("abc", "abc"));
  CHECK_FALSE(ConstantTimeEquals("abc", "abd"));
  CHECK_FALSE(ConstantTimeEquals("abc", "ab"));
  CHECK(ConstantTimeEquals("", ""));
}

}  // namespace courier
