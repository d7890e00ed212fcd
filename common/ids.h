// Identifiers of SPEC §2: validation and the conversation / recipient forms.
//
// Pure functions on strings; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace courier {

// user_id, group_id, room_id, device_id: 1–64 characters of [A-Za-z0-9_.-].
bool IsValidId(std::string_view id);
// cmid: 1–64 characters in 0x21–0x7E.
bool IsValidCmid(std::string_view cmid);
// OK, or InvalidField naming `field` ("user_id must be 1-64 characters of [A-Za-z0-9_.-]").
Status CheckId(std::string_view field, std::string_view id);

// Platforms of SPEC §3 single sign-on; one live session per user and platform.
bool IsValidPlatform(std::string_view platform);
inline constexpr std::string_view kDefaultPlatform = "cli";

// A recipient address `to`: user:<id>, group:<id> or room:<id>.
struct Recipient {
  enum class Kind { kUser, kGroup, kRoom };
  Kind kind = Kind::kUser;
  std::string id;

  bool operator==(const Recipient&) const = default;
};

// Parses `to`; InvalidField when the prefix is unknown or the id is not a valid id.
Result<Recipient> ParseRecipient(std::string_view to);
// "user:<id>" and so on.
std::string FormatRecipient(const Recipient& r);

// One-to-one conversation id u:<a>:<b> with a <= b bytewise (a == b: notes to self).
std::string DirectConversation(std::string_view x, std::string_view y);

// A conversation id taken apart: u:<a>:<b> (a <= b), g:<group_id> or r:<room_id>.
struct ConversationRef {
  enum class Kind { kDirect, kGroup, kRoom };
  Kind kind = Kind::kDirect;
  std::string a;  // kDirect: the two users; otherwise a is the group or room id
  std::string b;
};
// InvalidField for anything that is not a well-formed conversation id.
Result<ConversationRef> ParseConversation(std::string_view conv);

}  // namespace courier
