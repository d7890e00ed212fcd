// Fuzz target: the uplink's decoders of request bodies, query values and the Authorization header
// (uplink/request_codec.h), the bytes an anonymous client controls.
//
// Input: one selector byte, then what that decoder gets (corpus files read "s{...json...}"):
//   r l s a g u f b o d i   ParseRegister/Login/Send/Ack/CreateGroup/UserIds/Friend/Block/Role/
//                           Read/SignalRequest on the rest as the body
//   B                       ParseBearer on the rest as the header value
//   y h m                   ParseSync/History/LimitQuery; p ParsePresenceQuery: a flags byte says
//                           which values are present, then the values as lines
//   j                       JsonDepthAtMost; a byte gives the depth limit
// Any other selector byte picks one of these by its value.
//
// Asserts: no exception escapes; an error has the code the header promises (invalid_json or
// invalid_field; too_large only from a send); a body with a NUL or nested deeper than
// kMaxJsonDepth is refused; every accepted value satisfies its documented contract (valid ids,
// lengths, ranges, no duplicates); a send's body re-serializes to itself; query numbers are
// accepted exactly when they are plain decimal digits within range (an independent oracle);
// JsonDepthAtMost agrees with the real nesting depth of every valid JSON text.
#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "tests/fuzz/fuzz_support.h"
#include "uplink/request_codec.h"

namespace courier::fuzz {
namespace {

using nlohmann::json;

constexpr size_t kMaxBody = 256;  // small, so the fuzzer reaches the too_large path
constexpr int kMaxMembers = 8;
constexpr int kDefaultLimit = 100;
constexpr int kMaxLimit = 1000;
constexpr int kMaxUsers = 5;

bool IsBodyError(const Status& s) {
  return s.code() == Status::Code::kInvalidJson || s.code() == Status::Code::kInvalidField;
}

// What every body parser must refuse before it looks at fields.
bool MustRefuse(std::string_view body) {
  return body.find('\0') != std::string_view::npos || !JsonDepthAtMost(body, kMaxJsonDepth);
}

template <typename T>
void CheckBodyResult(std::string_view body, const Result<T>& r) {
  if (r.ok()) {
    FUZZ_CHECK(!MustRefuse(body));
  } else {
    FUZZ_CHECK(IsBodyError(r.status()));
    FUZZ_CHECK(!r.status().message().empty());
  }
}

bool IdsValidAndDistinct(const std::vector<std::string>& ids) {
  std::set<std::string> seen;
  for (const auto& id : ids) {
    if (!IsValidId(id) || !seen.insert(id).second) return false;
  }
  return true;
}

// The oracle of a count in a query: 1-16 decimal digits, at most 2^53.
std::optional<int64_t> PlainCount(const std::string& s) {
  if (s.empty() || s.size() > 16) return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v > (int64_t{1} << 53)) return std::nullopt;
  return v;
}

// Nesting depth of a parsed document (depth 1 for a top-level array or object).
int DepthOf(const json& j) {
  if (!j.is_structured()) return 0;
  int deepest = 0;
  for (const auto& v : j) deepest = std::max(deepest, DepthOf(v));
  return deepest + 1;
}

void FuzzBody(char selector, std::string_view body) {
  switch (selector) {
    case 'r': {
      auto r = ParseRegisterRequest(body);
      CheckBodyResult(body, r);
      if (r.ok()) {
        FUZZ_CHECK(IsValidId(r->user_id));
        FUZZ_CHECK(!r->password.empty() && r->password.size() <= 1024);
        FUZZ_CHECK(r->display_name.size() <= 256);
      }
      break;
    }
    case 'l': {
      auto r = ParseLoginRequest(body);
      CheckBodyResult(body, r);
      if (r.ok()) {
        FUZZ_CHECK(IsValidId(r->user_id) && IsValidId(r->device_id));
        FUZZ_CHECK(!r->password.empty() && r->password.size() <= 1024);
        FUZZ_CHECK(IsValidPlatform(r->platform));
      }
      break;
    }
    case 's': {
      auto r = ParseSendRequest(body, kMaxBody);
      if (!r.ok() && r.status().code() == Status::Code::kTooLarge) {
        FUZZ_CHECK(!MustRefuse(body));
        break;
      }
      CheckBodyResult(body, r);
      if (r.ok()) {
        FUZZ_CHECK(IsValidId(r->to.id));
        FUZZ_CHECK(ParseRecipient(FormatRecipient(r->to)).ok());
        FUZZ_CHECK(IsValidCmid(r->cmid));
        FUZZ_CHECK(IsValidId(r->kind));
        FUZZ_CHECK(r->body_json.size() <= kMaxBody);
        // The body is stored and pushed as this text: it must be JSON that serializes to itself.
        json again = json::parse(r->body_json, nullptr, /*allow_exceptions=*/false);
        FUZZ_CHECK(!again.is_discarded());
        FUZZ_CHECK(again.dump() == r->body_json);
      }
      break;
    }
    case 'a':
    case 'd': {
      auto r = selector == 'a' ? ParseAckRequest(body) : ParseReadRequest(body);
      CheckBodyResult(body, r);
      if (r.ok()) FUZZ_CHECK(*r >= 0 && *r <= (int64_t{1} << 53));
      break;
    }
    case 'g': {
      auto r = ParseCreateGroupRequest(body, kMaxMembers);
      CheckBodyResult(body, r);
      if (r.ok()) {
        FUZZ_CHECK(r->group_id.empty() || IsValidId(r->group_id));
        FUZZ_CHECK(!r->name.empty() && r->name.size() <= 128);
        FUZZ_CHECK(r->members.size() <= kMaxMembers);
        FUZZ_CHECK(IdsValidAndDistinct(r->members));
      }
      break;
    }
    case 'u': {
      auto r = ParseUserIdsRequest(body, kMaxMembers);
      CheckBodyResult(body, r);
      if (r.ok()) {
        FUZZ_CHECK(!r->empty() && r->size() <= kMaxMembers);
        FUZZ_CHECK(IdsValidAndDistinct(*r));
      }
      break;
    }
    case 'f': {
      auto r = ParseFriendRequest(body);
      CheckBodyResult(body, r);
      if (r.ok()) FUZZ_CHECK(IsValidId(r->to) && r->note.size() <= 512);
      break;
    }
    case 'b': {
      auto r = ParseBlockRequest(body);
      CheckBodyResult(body, r);
      if (r.ok()) FUZZ_CHECK(IsValidId(*r));
      break;
    }
    case 'o': {
      CheckBodyResult(body, ParseRoleRequest(body));
      break;
    }
    case 'i': {
      auto r = ParseSignalRequest(body);
      CheckBodyResult(body, r);
      if (r.ok()) {
        FUZZ_CHECK(r->to.kind != Recipient::Kind::kRoom && IsValidId(r->to.id));
        FUZZ_CHECK(!r->kind.empty() && r->kind.size() <= 32 && r->kind != "presence");
        FUZZ_CHECK(std::all_of(r->kind.begin(), r->kind.end(), [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || std::strchr("_.-", c);
        }));
      }
      break;
    }
  }
}

void FuzzBearer(std::string_view header) {
  auto r = ParseBearer(header);
  if (!r.ok()) {
    FUZZ_CHECK(r.status().code() == Status::Code::kUnauthorized);
    return;
  }
  FUZZ_CHECK(!r->empty() && r->front() != ' ' && r->back() != ' ');
  FUZZ_CHECK(header.size() > 7);
  std::string scheme(header.substr(0, 7));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; });
  FUZZ_CHECK(scheme == "bearer ");
  FUZZ_CHECK(header.find(*r) != std::string_view::npos);
}

void FuzzQuery(char selector, FuzzInput& in) {
  uint8_t present = in.TakeByte();
  std::optional<std::string> first, second;
  if (present & 1) first = std::string(in.TakeLine());
  if (present & 2) second = std::string(in.TakeLine());

  // `limit` is accepted when absent, or when it is a count of at least 1 (then clamped).
  auto limit_ok = [&](const std::optional<std::string>& limit, int got) {
    if (!limit) return got == kDefaultLimit;
    auto v = PlainCount(*limit);
    return v && *v >= 1 && got == std::min<int64_t>(*v, kMaxLimit);
  };
  auto limit_valid = [&](const std::optional<std::string>& limit) {
    if (!limit) return true;
    auto v = PlainCount(*limit);
    return v && *v >= 1;
  };

  switch (selector) {
    case 'y': {
      auto q = ParseSyncQuery(first, second, kDefaultLimit, kMaxLimit);
      bool after_valid = !first || PlainCount(*first);
      FUZZ_CHECK(q.ok() == (after_valid && limit_valid(second)));
      if (q.ok()) {
        FUZZ_CHECK(q->after == (first ? *PlainCount(*first) : 0));
        FUZZ_CHECK(limit_ok(second, q->limit));
      } else {
        FUZZ_CHECK(q.status().code() == Status::Code::kInvalidField);
      }
      break;
    }
    case 'h': {
      auto q = ParseHistoryQuery(first, second, kDefaultLimit, kMaxLimit);
      bool before_valid = !first || (PlainCount(*first) && *PlainCount(*first) >= 1);
      FUZZ_CHECK(q.ok() == (before_valid && limit_valid(second)));
      if (q.ok()) {
        FUZZ_CHECK(q->before == (first ? *PlainCount(*first) : 0));
        FUZZ_CHECK(limit_ok(second, q->limit));
      } else {
        FUZZ_CHECK(q.status().code() == Status::Code::kInvalidField);
      }
      break;
    }
    case 'm': {
      auto q = ParseLimitQuery(first, kDefaultLimit, kMaxLimit);
      FUZZ_CHECK(q.ok() == limit_valid(first));
      if (q.ok()) FUZZ_CHECK(limit_ok(first, *q));
      break;
    }
    case 'p': {
      auto users = ParsePresenceQuery(first, kMaxUsers);
      if (!users.ok()) {
        FUZZ_CHECK(users.status().code() == Status::Code::kInvalidField);
        break;
      }
      FUZZ_CHECK(!users->empty() && users->size() <= kMaxUsers);
      FUZZ_CHECK(IdsValidAndDistinct(*users));
      // Every id is one of the comma-separated pieces, and every piece is one of the ids.
      const std::string padded = "," + *first + ",";
      for (const auto& u : *users) {
        FUZZ_CHECK(padded.find("," + u + ",") != std::string::npos);
      }
      std::string_view rest = *first;
      while (true) {
        size_t comma = rest.find(',');
        FUZZ_CHECK(std::find(users->begin(), users->end(), rest.substr(0, comma)) != users->end());
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
      break;
    }
  }
}

void FuzzDepth(FuzzInput& in) {
  int max_depth = in.TakeByte() % 8;
  std::string_view text = in.TakeRest();
  bool shallow = JsonDepthAtMost(text, max_depth);
  // nlohmann/json takes a NUL for the end of the text (ParseObject refuses NULs first), so only
  // a text without one is the document the parser sees.
  if (text.find('\0') != std::string_view::npos) return;
  // The depth of the text as the parser meets it: a duplicate key can replace a deep value with a
  // flat one, so the parsed document's depth is not the oracle (seen: {"c":[{..}],"c":"x"}).
  int text_depth = 0;
  json j = json::parse(
      text,
      [&text_depth](int depth, json::parse_event_t event, json&) {
        if (event == json::parse_event_t::object_start ||
            event == json::parse_event_t::array_start) {
          text_depth = std::max(text_depth, depth + 1);
        }
        return true;
      },
      /*allow_exceptions=*/false);
  if (!j.is_discarded()) {
    FUZZ_CHECK(shallow == (text_depth <= max_depth));
    FUZZ_CHECK(DepthOf(j) <= text_depth);
  }
}

}  // namespace
}  // namespace courier::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace courier::fuzz;
  static constexpr std::string_view kSelectors = "rlsagufbodiByhmpj";
  FuzzInput in(data, size);
  uint8_t byte = in.TakeByte();
  char selector = kSelectors.find(static_cast<char>(byte)) != std::string_view::npos
                      ? static_cast<char>(byte)
                      : kSelectors[byte % kSelectors.size()];
  NoThrow([&] {
    switch (selector) {
      case 'B':
        FuzzBearer(in.TakeRest());
        break;
      case 'y':
      case 'h':
      case 'm':
      case 'p':
        FuzzQuery(selector, in);
        break;
      case 'j':
        FuzzDepth(in);
        break;
      default:
        FuzzBody(selector, in.TakeRest());
        break;
    }
  });
  return 0;
}
