#include "common/ids.h"

#include <array>

namespace courier {

namespace {

bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

constexpr size_t kMaxIdLength = 64;

}  // namespace

bool IsValidId(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdLength) return false;
  for (char c : id) {
    if (!IsIdChar(c)) return false;
  }
  return true;
}

bool IsValidCmid(std::string_view cmid) {
  if (cmid.empty() || cmid.size() > kMaxIdLength) return false;
  for (char c : cmid) {
    if (c < 0x21 || c > 0x7E) return false;
  }
  return true;
}

Status CheckId(std::string_view field, std::string_view id) {
  if (IsValidId(id)) return Status::Ok();
  return Status::InvalidField(std::string(field) + " must be 1-64 characters of [A-Za-z0-9_.-]");
}

bool IsValidPlatform(std::string_view platform) {
  static constexpr std::array<std::string_view, 5> kPlatforms = {"ios", "android", "web", "desktop",
                                                                 "cli"};
  for (auto p : kPlatforms) {
    if (p == platform) return true;
  }
  return false;
}

Result<Recipient> ParseRecipient(std::string_view to) {
  struct Prefix {
    std::string_view text;
    Recipient::Kind kind;
  };
  static constexpr std::array<Prefix, 3> kPrefixes = {{{"user:", Recipient::Kind::kUser},
                                                       {"group:", Recipient::Kind::kGroup},
                                                       {"room:", Recipient::Kind::kRoom}}};
  for (const auto& p : kPrefixes) {
    if (to.substr(0, p.text.size()) != p.text) continue;
    std::string_view id = to.substr(p.text.size());
    if (!IsValidId(id)) {
      return Status::InvalidField("to: the id after '" + std::string(p.text) +
                                  "' must be 1-64 characters of [A-Za-z0-9_.-]");
    }
    return Recipient{p.kind, std::string(id)};
  }
  return Status::InvalidField("to must be user:<id>, group:<id> or room:<id>");
}

std::string FormatRecipient(const Recipient& r) {
  switch (r.kind) {
    case Recipient::Kind::kUser:
      return "user:" + r.id;
    case Recipient::Kind::kGroup:
      return "group:" + r.id;
    case Recipient::Kind::kRoom:
      return "room:" + r.id;
  }
  return {};
}

std::string DirectConversation(std::string_view x, std::string_view y) {
  // std::string_view compares with char_traits<char>, which compares as unsigned char: bytewise.
  if (y < x) std::swap(x, y);
  std::string conv = "u:";
  conv.append(x).append(":").append(y);
  return conv;
}

Result<ConversationRef> ParseConversation(std::string_view conv) {
  const Status bad = Status::InvalidField("conv must be u:<a>:<b> (a <= b), g:<id> or r:<id>");
  if (conv.size() < 3 || conv[1] != ':') return bad;
  std::string_view rest = conv.substr(2);
  ConversationRef ref;
  switch (conv[0]) {
    case 'u': {
      size_t colon = rest.find(':');
      if (colon == std::string_view::npos) return bad;
      ref.kind = ConversationRef::Kind::kDirect;
      ref.a = std::string(rest.substr(0, colon));
      ref.b = std::string(rest.substr(colon + 1));
      if (!IsValidId(ref.a) || !IsValidId(ref.b) || ref.b < ref.a) return bad;
      return ref;
    }
    case 'g':
      ref.kind = ConversationRef::Kind::kGroup;
      break;
    case 'r':
      ref.kind = ConversationRef::Kind::kRoom;
      break;
    default:
      return bad;
  }
  if (!IsValidId(rest)) return bad;
  ref.a = std::string(rest);
  return ref;
}

}  // namespace courier
