// Fuzz target: the JWT codec (common/jwt.h), which the uplink and the broker plugin run on every
// token a client presents, before anything else is known about the client.
//
// Input: one selector byte, then
//   v   a token for JwtCodec::Verify (the rest), with the fixed secrets below (a rotation: the
//       current and the previous secret both verify)
//   p   a header line and a payload (the rest) as JSON text, signed here with the current secret:
//       what Verify makes of any claims that carry a good signature
//   s   claims for Sign then Verify, as lines: sub, dev, sid, plat, role, iat, exp (decimal; an
//       unparsable one is 0). Sign's callers pass ids and platforms, so bytes are folded to 7
//       bits: every claim can be JSON, quotes, backslashes and control characters included.
//   b   bytes for Base64UrlEncode/Decode (the rest)
// Any other selector byte picks one of these by its value.
//
// Asserts: Verify never throws and refuses with Unauthorized; an accepted token's claims meet
// the contract (valid ids, a known platform unless it is a service token, not expired), the token
// verifies again to the same claims, re-signing the claims gives a token that verifies to them
// too, exactly one of the two secrets signed it, and a codec without our secrets refuses it.
// Sign then Verify gives the claims back exactly when they are valid and unexpired. Base64url
// decoding inverts encoding, and a decodable text is the one canonical encoding of its bytes.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <charconv>

#include "common/ids.h"
#include "common/jwt.h"
#include "tests/fuzz/fuzz_support.h"

namespace courier::fuzz {
namespace {

constexpr int64_t kNow = 1'800'000'000;  // seconds; the corpus tokens expire in 2100

const JwtCodec& Rotating() {
  static const JwtCodec codec({"fuzz-secret", "fuzz-previous-secret"});
  return codec;
}

bool SameClaims(const TokenClaims& a, const TokenClaims& b) {
  return a.user_id == b.user_id && a.device_id == b.device_id && a.session_id == b.session_id &&
         a.platform == b.platform && a.role == b.role && a.issued_at == b.issued_at &&
         a.expires_at == b.expires_at;
}

void CheckAccepted(const TokenClaims& c) {
  FUZZ_CHECK(IsValidId(c.user_id));
  FUZZ_CHECK(c.expires_at > kNow);
  if (c.role.empty()) {
    FUZZ_CHECK(IsValidId(c.device_id) && IsValidId(c.session_id));
    FUZZ_CHECK(IsValidPlatform(c.platform));
  }
}

void FuzzVerify(std::string_view token) {
  static const JwtCodec current({"fuzz-secret"});
  static const JwtCodec previous({"fuzz-previous-secret"});
  static const JwtCodec stranger({"not-our-secret"});
  auto claims = Rotating().Verify(token, kNow);
  if (!claims.ok()) {
    FUZZ_CHECK(claims.status().code() == Status::Code::kUnauthorized);
    return;
  }
  CheckAccepted(*claims);
  auto again = Rotating().Verify(token, kNow);
  FUZZ_CHECK(again.ok() && SameClaims(*again, *claims));
  FUZZ_CHECK(current.Verify(token, kNow).ok() != previous.Verify(token, kNow).ok());
  FUZZ_CHECK(!stranger.Verify(token, kNow).ok());
  // Re-signing may lengthen a token (an absent iat becomes "iat":0); Verify refuses any token
  // above 4 KiB, so only one within that must verify.
  std::string resigned = Rotating().Sign(*claims);
  if (resigned.size() <= 4096) {
    auto again_signed = Rotating().Verify(resigned, kNow);
    FUZZ_CHECK(again_signed.ok() && SameClaims(*again_signed, *claims));
  }
}

// header.payload.signature over the given JSON texts, signed with the current secret.
std::string SignedToken(std::string_view header, std::string_view payload) {
  std::string input = Base64UrlEncode(header) + "." + Base64UrlEncode(payload);
  static constexpr std::string_view kSecret = "fuzz-secret";
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac.data(), &len);
  return input + "." +
         Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(mac.data()), len));
}

std::string Ascii(std::string_view bytes) {
  std::string out(bytes);
  for (char& c : out) c = static_cast<char>(c & 0x7F);
  return out;
}

int64_t Number(std::string_view text) {
  int64_t v = 0;
  std::from_chars(text.data(), text.data() + text.size(), v);
  return v;
}

void FuzzSignVerify(FuzzInput& in) {
  TokenClaims c;
  c.user_id = Ascii(in.TakeLine());
  c.device_id = Ascii(in.TakeLine());
  c.session_id = Ascii(in.TakeLine());
  c.platform = Ascii(in.TakeLine());
  c.role = Ascii(in.TakeLine());
  c.issued_at = Number(in.TakeLine());
  c.expires_at = Number(in.TakeLine());

  auto v = Rotating().Verify(Rotating().Sign(c), kNow);
  bool valid = IsValidId(c.user_id) && c.expires_at > kNow &&
               (!c.role.empty() ||
                (IsValidId(c.device_id) && IsValidId(c.session_id) && IsValidPlatform(c.platform)));
  FUZZ_CHECK(v.ok() == valid);
  if (!v.ok()) return;
  CheckAccepted(*v);
  if (c.role.empty()) {
    FUZZ_CHECK(SameClaims(*v, c));
  } else {
    // A service token carries no device: Verify does not read dev, sid or plat.
    FUZZ_CHECK(v->user_id == c.user_id && v->role == c.role && v->issued_at == c.issued_at &&
               v->expires_at == c.expires_at);
  }
}

void FuzzBase64(std::string_view bytes) {
  std::string decoded;
  FUZZ_CHECK(Base64UrlDecode(Base64UrlEncode(bytes), &decoded) && decoded == bytes);
  if (Base64UrlDecode(bytes, &decoded)) FUZZ_CHECK(Base64UrlEncode(decoded) == bytes);
}

}  // namespace
}  // namespace courier::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace courier::fuzz;
  static constexpr std::string_view kSelectors = "vpsb";
  FuzzInput in(data, size);
  uint8_t byte = in.TakeByte();
  char selector = kSelectors.find(static_cast<char>(byte)) != std::string_view::npos
                      ? static_cast<char>(byte)
                      : kSelectors[byte % kSelectors.size()];
  NoThrow([&] {
    switch (selector) {
      case 'v':
        FuzzVerify(in.TakeRest());
        break;
      case 'p': {
        std::string_view header = in.TakeLine();
        FuzzVerify(SignedToken(header, in.TakeRest()));
        break;
      }
      case 's':
        FuzzSignVerify(in);
        break;
      default:
        FuzzBase64(in.TakeRest());
        break;
    }
  });
  return 0;
}
