#include "uplink/request_codec.h"

#include <charconv>
#include <nlohmann/json.hpp>

namespace courier {

namespace {

using nlohmann::json;

constexpr size_t kMaxPasswordBytes = 1024;
constexpr size_t kMaxDisplayNameBytes = 256;

Result<json> ParseObject(std::string_view body) {
  // JSON text never holds a raw NUL, and the parser would stop at one and take the prefix.
  if (body.find('\0') != std::string_view::npos) {
    return Status::InvalidJson("the body is not valid JSON (it contains a NUL byte)");
  }
  if (!JsonDepthAtMost(body, kMaxJsonDepth)) {
    return Status::InvalidJson("JSON nested deeper than " + std::to_string(kMaxJsonDepth));
  }
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::InvalidJson("the body is not valid JSON (UTF-8)");
  if (!j.is_object()) return Status::InvalidJson("the body must be a JSON object");
  return j;
}

// A required string field.
Result<std::string> RequiredString(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) {
    return Status::InvalidField(std::string(name) + " is required");
  }
  if (!it->is_string()) return Status::InvalidField(std::string(name) + " must be a string");
  return it->get<std::string>();
}

// An optional string field: `fallback` when absent or null.
Result<std::string> OptionalString(const json& j, const char* name, std::string fallback) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_string()) return Status::InvalidField(std::string(name) + " must be a string");
  return it->get<std::string>();
}

Result<std::string> RequiredId(const json& j, const char* name) {
  auto s = RequiredString(j, name);
  if (!s.ok()) return s;
  Status v = CheckId(name, *s);
  if (!v.ok()) return v;
  return s;
}

Result<std::string> Password(const json& j) {
  auto p = RequiredString(j, "password");
  if (!p.ok()) return p;
  if (p->empty() || p->size() > kMaxPasswordBytes) {
    return Status::InvalidField("password must be 1-1024 bytes");
  }
  return p;
}

// A non-negative decimal integer with no sign, spaces or fraction, at most 2^53.
std::optional<int64_t> ParseCount(std::string_view s) {
  // from_chars takes a leading '-', and "-0" would pass the v < 0 check below.
  if (s.empty() || s.size() > 16 || s.front() == '-') return std::nullopt;
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || v < 0) return std::nullopt;
  if (v > (int64_t{1} << 53)) return std::nullopt;
  return v;
}

}  // namespace

bool JsonDepthAtMost(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

Result<RegisterRequest> ParseRegisterRequest(std::string_view body) {
  auto j = ParseObject(body);
  if (!j.ok()) return j.status();
  RegisterRequest r;
  auto uid = RequiredId(*j, "user_id");
  if (!uid.ok()) return uid.status();
  r.user_id = std::move(*uid);
  auto pw = Password(*j);
  if (!pw.ok()) return pw.status();
  r.password = std::move(*pw);
  auto name = OptionalString(*j, "display_name", r.user_id);
  if (!name.ok()) return name.status();
  if (name->size() > kMaxDisplayNameBytes) {
    return Status::InvalidField("display_name must be at most 256 bytes");
  }
  r.display_name = std::move(*name);
  return r;
}

Result<LoginRequest> ParseLoginRequest(std::string_view body) {
  auto j = ParseObject(body);
  if (!j.ok()) return j.status();
  LoginRequest r;
  auto uid = RequiredId(*j, "user_id");
  if (!uid.ok()) return uid.status();
  r.user_id = std::move(*uid);
  auto pw = Password(*j);
  if (!pw.ok()) return pw.status();
  r.password = std::move(*pw);
  auto dev = RequiredId(*j, "device_id");
  if (!dev.ok()) return dev.status();
  r.device_id = std::move(*dev);
  auto platform = OptionalString(*j, "platform", std::string(kDefaultPlatform));
  if (!platform.ok()) return platform.status();
  if (!IsValidPlatform(*platform)) {
    return Status::InvalidField("platform must be one of ios, android, web, desktop, cli");
  }
  r.platform = std::move(*platform);
  return r;
}

Result<SendRequest> ParseSendRequest(std::string_view body, size_t max_body_bytes) {
  auto j = ParseObject(body);
  if (!j.ok()) return j.status();
  SendRequest r;
  auto to = RequiredString(*j, "to");
  if (!to.ok()) return to.status();
  auto recipient = ParseRecipient(*to);
  if (!recipient.ok()) return recipient.status();
  r.to = std::move(*recipient);
  auto cmid = RequiredString(*j, "cmid");
  if (!cmid.ok()) return cmid.status();
  if (!IsValidCmid(*cmid)) {
    return Status::InvalidField("cmid must be 1-64 printable ASCII characters without spaces");
  }
  r.cmid = std::move(*cmid);
  auto kind = OptionalString(*j, "kind", "text");
  if (!kind.ok()) return kind.status();
  if (!IsValidId(*kind))
    return Status::InvalidField("kind must be 1-64 characters of [A-Za-z0-9_.-]");
  r.kind = std::move(*kind);
  auto b = j->find("body");
  if (b == j->end()) return Status::InvalidField("body is required");
  r.body_json = b->dump();
  if (r.body_json.size() > max_body_bytes) {
    return Status::TooLarge("body is " + std::to_string(r.body_json.size()) +
                            " bytes serialized; the limit is " + std::to_string(max_body_bytes));
  }
  return r;
}

Result<int64_t> ParseAckRequest(std::string_view body) {
  auto j = ParseObject(body);
  if (!j.ok()) return j.status();
  auto it = j->find("seq");
  if (it == j->end()) return Status::InvalidField("seq is required");
  if (!it->is_number_integer() || (it->is_number_integer() && it->get<int64_t>() < 0) ||
      (it->is_number_unsigned() && it->get<uint64_t>() > (uint64_t{1} << 53))) {
    return Status::InvalidField("seq must be a non-negative integer");
  }
  return it->get<int64_t>();
}

Result<SyncQuery> ParseSyncQuery(const std::optional<std::string>& after,
                                 const std::optional<std::string>& limit, int default_limit,
                                 int max_limit) {
  SyncQuery q;
  if (after) {
    auto v = ParseCount(*after);
    if (!v) return Status::InvalidField("after must be a non-negative integer");
    q.after = *v;
  }
  q.limit = default_limit;
  if (limit) {
    auto v = ParseCount(*limit);
    if (!v || *v < 1) return Status::InvalidField("limit must be a positive integer");
    q.limit = static_cast<int>(std::min<int64_t>(*v, max_limit));
  }
  return q;
}

Result<HistoryQuery> ParseHistoryQuery(const std::optional<std::string>& before,
                                       const std::optional<std::string>& limit, int default_limit,
                                       int max_limit) {
  HistoryQuery q;
  if (before) {
    auto v = ParseCount(*before);
    if (!v || *v < 1) return Status::InvalidField("before must be a positive integer");
    q.before = *v;
  }
  auto page = ParseSyncQuery(std::nullopt, limit, default_limit, max_limit);
  if (!page.ok()) return page.status();
  q.limit = page->limit;
  return q;
}

Result<std::vector<std::string>> ParsePresenceQuery(const std::optional<std::string>& users,
                                                    int max_users) {
  if (!users || users->empty()) return Status::InvalidField("users is required: ?users=a,b,c");
  std::vector<std::string> out;
  std::string_view rest = *users;
  while (true) {
    size_t comma = rest.find(',');
    std::string_view id = rest.substr(0, comma);
    Status s = CheckId("users", id);
    if (!s.ok()) return s;
    if (std::find(out.begin(), out.end(), id) == out.end()) out.emplace_back(id);
    if (out.size() > static_cast<size_t>(max_users)) {
      return Status::InvalidField("at most " + std::to_string(max_users) + " users at once");
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return out;
}

namespace {

constexpr size_t kMaxGroupNameBytes = 128;
constexpr size_t kMaxNoteBytes = 512;
constexpr size_t kMaxSignalKindBytes = 32;

// A list of user ids under `name`: valid ids, duplicates removed, order kept, at most `max`.
Result<std::vector<std::string>> UserIdList(const json& j, const char* name, int max,
                                            bool required) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) {
    if (required) return Status::InvalidField(std::string(name) + " is required");
    return std::vector<std::string>{};
  }
  if (!it->is_array()) return Status::InvalidField(std::string(name) + " must be an array");
  std::vector<std::string> out;
  for (const auto& v : *it) {
    if (!v.is_string()) return Status::InvalidField(std::string(name) + " must hold user ids");
    std::string id = v.get<std::string>();
    Status s = CheckId(name, id);
    if (!s.ok()) return s;
    if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(std::move(id));
    if (out.size() > static_cast<size_t>(max)) {
      return Status::InvalidField(std::string(name) + ": at most " + std::to_string(max));
    }
  }
  return out;
}

bool IsValidSignalKind(std::string_view kind) {
  if (kind.empty() || kind.size() > kMaxSignalKindBytes) return false;
  for (char c : kind) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-')) {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<CreateGroupRequest> ParseCreateGroupRequest(std::string_view body, int max_members) {
  auto j = ParseObject(body);
  if (!j.ok()) return j.status();
  CreateGroupRequest r;
  auto gid = OptionalString(*j, "group_id", "");
  if (!gid.ok()) return gid.status();
  if (!gid->empty()) {
    if (Status s = CheckId("group_id", *gid); !s.ok()) return s;
  }
  r.group_id = std::move(*gid);
  auto name = RequiredString(*j, "name");
  if (!name.ok()) return name.status();
  if (name->empty() || name->size() > kMaxGroupNameBytes) {
    return Status::InvalidField("name must be 1-128 bytes");
  }
  r.name = std::move(*name);
  auto members = UserIdList(*j, "members", max_members, /*required=*/false);
  if (!members.ok()) return members.status();
  r.members = std::move(*members);
  return r;
}

Result<std::vector<std::string>> ParseUserIdsRequest(std::string_view body, int max) {
  auto j = ParseObject(body);
  if (!j.ok()) return j.status();
  auto ids = UserIdList(*j, "user_ids", max, /*required=*/true);
  if (!ids.ok()) return ids.status();
  if (ids->empty()) return Status::InvalidField("user_ids must not be empty");
  return ids;
}

Result<FriendRequestBody> ParseFriendRequest(std::string_view body) {
  auto j = ParseObject(body);
  if (!j.ok()) return j.status();
  FriendRequestBody r;
  auto to = RequiredId(*j, "to");
  if (!to.ok()) return to.status();
  r.to = std::move(*to);
  auto note = OptionalString(*j, "note", "");
  if (!note.ok()) return note.status();
  if (note->size() > kMaxNoteBytes) return Status::InvalidField("note must be at most 512 bytes");
  r.note = std::move(*note);
  return r;
}

Result<std::string> ParseBlockRequest(std::string_view body) {
  auto j = ParseObject(body);
  if (!j.ok()) return j.status();
  return RequiredId(*j, "user_id");
}

Result<std::string> ParseRoleRequest(std::string_view body) {
  auto j = ParseObject(body);
  if (!j.ok()) return j.status();
  return RequiredString(*j, "role");
}

Result<int64_t> ParseReadRequest(std::string_view body) {
  auto j = ParseObject(body);
  if (!j.ok()) return j.status();
  auto it = j->find("conv_seq");
  if (it == j->end()) return Status::InvalidField("conv_seq is required");
  if (!it->is_number_integer() || it->get<int64_t>() < 0 ||
      (it->is_number_unsigned() && it->get<uint64_t>() > (uint64_t{1} << 53))) {
    return Status::InvalidField("conv_seq must be a non-negative integer");
  }
  return it->get<int64_t>();
}

Result<SignalRequest> ParseSignalRequest(std::string_view body) {
  auto j = ParseObject(body);
  if (!j.ok()) return j.status();
  SignalRequest r;
  auto to = RequiredString(*j, "to");
  if (!to.ok()) return to.status();
  auto recipient = ParseRecipient(*to);
  if (!recipient.ok()) return recipient.status();
  if (recipient->kind == Recipient::Kind::kRoom) {
    return Status::InvalidField("signals go to user:<id> or group:<id>");
  }
  r.to = std::move(*recipient);
  auto kind = RequiredString(*j, "kind");
  if (!kind.ok()) return kind.status();
  if (!IsValidSignalKind(*kind) || *kind == "presence") {
    return Status::InvalidField(
        "kind must be 1-32 characters of [a-z0-9_.-] and not presence (e.g. typing)");
  }
  r.kind = std::move(*kind);
  return r;
}

Result<int> ParseLimitQuery(const std::optional<std::string>& limit, int default_limit,
                            int max_limit) {
  auto page = ParseSyncQuery(std::nullopt, limit, default_limit, max_limit);
  if (!page.ok()) return page.status();
  return page->limit;
}

Result<std::string> ParseBearer(std::string_view authorization) {
  constexpr std::string_view kScheme = "Bearer ";
  if (authorization.size() <= kScheme.size() ||
      !std::equal(kScheme.begin(), kScheme.end(), authorization.begin(),
                  [](unsigned char a, unsigned char b) {  // tolower of a negative char is UB
                    return std::tolower(a) == std::tolower(b);
                  })) {
    return Status::Unauthorized("Authorization: Bearer <token> is required");
  }
  std::string_view token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty()) return Status::Unauthorized("Authorization: Bearer <token> is required");
  return std::string(token);
}

}  // namespace courier
