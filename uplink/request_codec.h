// Decoders of untrusted request bodies and query strings into typed requests. Pure functions
// over strings: no I/O, never throw, every malformed input is a Status (SPEC §3:
// invalid_json for text that is not a JSON object, invalid_field for a bad field,
// too_large for an oversized message body).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/ids.h"
#include "common/status.h"

namespace courier {

// Bodies nested deeper than this are refused before parsing (no recursion bombs).
inline constexpr int kMaxJsonDepth = 64;

struct RegisterRequest {
  std::string user_id;
  std::string password;
  std::string display_name;  // defaults to user_id
};

struct LoginRequest {
  std::string user_id;
  std::string password;
  std::string device_id;
  std::string platform;  // defaults to "cli"
};

struct SendRequest {
  Recipient to;
  std::string cmid;
  std::string kind;       // defaults to "text"
  std::string body_json;  // compact serialization of `body`
};

struct SyncQuery {
  int64_t after = 0;
  int limit = 0;  // already clamped to [1, max]
};

Result<RegisterRequest> ParseRegisterRequest(std::string_view body);
Result<LoginRequest> ParseLoginRequest(std::string_view body);
// `max_body_bytes`: the largest allowed compact serialization of `body` (413 above).
Result<SendRequest> ParseSendRequest(std::string_view body, size_t max_body_bytes);
// {"seq": n}, n a non-negative integer.
Result<int64_t> ParseAckRequest(std::string_view body);

// `after` (default 0) and `limit` (default `default_limit`, clamped to `max_limit`), given as
// the raw query values (nullopt when absent).
Result<SyncQuery> ParseSyncQuery(const std::optional<std::string>& after,
                                 const std::optional<std::string>& limit, int default_limit,
                                 int max_limit);
struct HistoryQuery {
  int64_t before = 0;  // 0: from the newest message
  int limit = 0;       // already clamped to [1, max]
};
Result<HistoryQuery> ParseHistoryQuery(const std::optional<std::string>& before,
                                       const std::optional<std::string>& limit, int default_limit,
                                       int max_limit);

// `users=a,b,c`: 1..max_users valid user ids, duplicates removed, order kept.
Result<std::vector<std::string>> ParsePresenceQuery(const std::optional<std::string>& users,
                                                    int max_users);

struct CreateGroupRequest {
  std::string group_id;              // empty: the server picks one
  std::string name;                  // 1-128 bytes
  std::vector<std::string> members;  // valid ids, duplicates removed, order kept
};
// {group_id?, name, members:[…]}: at most `max_members` listed users.
Result<CreateGroupRequest> ParseCreateGroupRequest(std::string_view body, int max_members);
// {user_ids:[…]}: 1..max valid ids, duplicates removed, order kept.
Result<std::vector<std::string>> ParseUserIdsRequest(std::string_view body, int max);

struct FriendRequestBody {
  std::string to;    // a plain user id
  std::string note;  // at most 512 bytes
};
Result<FriendRequestBody> ParseFriendRequest(std::string_view body);
// {user_id}
Result<std::string> ParseBlockRequest(std::string_view body);
// {role}: a string (its value is checked by the service).
Result<std::string> ParseRoleRequest(std::string_view body);
// {conv_seq}, a non-negative integer.
Result<int64_t> ParseReadRequest(std::string_view body);

struct SignalRequest {
  Recipient to;      // a user or a group
  std::string kind;  // 1-32 characters of [a-z0-9_.-]; not "presence" (the server's own)
};
Result<SignalRequest> ParseSignalRequest(std::string_view body);

// `limit` of a list (default `default_limit`, clamped to `max_limit`).
Result<int> ParseLimitQuery(const std::optional<std::string>& limit, int default_limit,
                            int max_limit);

// The token of "Bearer <token>"; Unauthorized when absent or another scheme.
Result<std::string> ParseBearer(std::string_view authorization);

// True when `text` has no array/object nesting deeper than `max_depth` (strings are skipped).
bool JsonDepthAtMost(std::string_view text, int max_depth);

}  // namespace courier
