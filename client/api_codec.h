// The SDK's side of the HTTP API (SPEC §3), as pure functions on strings: where the uplink is,
// what an answer means as a Status, whether a failed send may be retried, the paths and bodies of
// requests, and every answer taken apart (and put back together as JSON, for the CLI). No sockets
// here (api_client.h does the requests), so every way an answer can be broken is unit-tested on
// plain strings.
//
// Thread-safety: pure functions and values; thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "client/api_types.h"
#include "common/status.h"

namespace courier::client {

// Where the uplink is: "http://host[:port][/prefix]".
struct BaseUrl {
  std::string host;
  int port = 80;
  std::string path_prefix;  // "" or "/api" (no trailing slash): prepended to every path
};
// InvalidField unless `url` is http://host[:port][/path] with a port in 1..65535. https is not
// supported (the uplink speaks plain HTTP; put the SDK behind the same TLS proxy as the app).
Result<BaseUrl> ParseBaseUrl(std::string_view url);

// One HTTP exchange as the SDK saw it.
struct HttpAnswer {
  int status = 0;  // 0: no answer (refused, reset, timed out); `error` says why
  std::string body;
  std::string retry_after;  // the Retry-After header; "" if absent
  std::string error;        // why there was no answer
};

// The Status a failed exchange stands for. No answer is Unavailable. Otherwise the server's
// error code decides when it is one of Status's codes ("not_member", "blocked", ...), else the
// HTTP status: 400 InvalidField, 401 Unauthorized, 403 Forbidden, 404 NotFound, 405
// MethodNotAllowed, 409 Conflict, 413 TooLarge, 429 RateLimited (with Retry-After), 500
// Internal, other 5xx Unavailable (a proxy's 502/504 is as transient as the uplink's 503).
// The message is the server's, or "HTTP <status>" when the body has none.
// REQUIRES: the exchange failed (no answer, or a status outside 2xx).
Status StatusFromAnswer(const HttpAnswer& answer);

// The Status of an API error code ("not_member", "rate_limited", ...) with `message`; OK when
// `code` is not one of them. `retry_after_s` goes with rate_limited only.
Status StatusFromCodeName(std::string_view code, std::string message, int retry_after_s = 0);

// What one attempt of POST /v1/messages means for the send.
enum class SendVerdict {
  kStored,     // 201: a new message
  kDuplicate,  // 200: an earlier attempt (or another device) already stored this cmid
  kRetry,      // no answer, 5xx or 429: maybe stored, maybe not; retry with the same cmid
  kFail,       // any other status: nothing was stored and a retry would get the same answer
};
SendVerdict ClassifySendAnswer(const HttpAnswer& answer);

// The wait a 429 asks for (Retry-After in whole seconds); zero if there is none or it is
// malformed. Capped at one hour.
std::chrono::milliseconds RetryAfterOf(const HttpAnswer& answer);

// A 200 of POST /v1/sessions (or the session file the CLI saved from one): token, user_id,
// device_id, expires_at, and an mqtt block with host, port, client_id, username, password and
// topics {inbox, device}. InvalidJson when the text is not JSON, InvalidField naming what is
// missing otherwise.
Result<LoginInfo> ParseLoginAnswer(std::string_view body);
// A 200 of GET /v1/mqtt (docs/api.md): the mqtt block alone, checked as in the login answer.
Result<nlohmann::json> ParseMqttAnswer(std::string_view body);
// The login answer's shape again, for saving a session: ParseLoginAnswer(dump) round-trips.
nlohmann::json LoginInfoToJson(const LoginInfo& info);

// A 200 or 201 of POST /v1/messages: id, conv, conv_seq, ts (cmid, duplicate and attempts are
// the caller's to fill in).
Result<SendResult> ParseSendAnswer(std::string_view body);

// A 200 of GET /v1/sync.
struct SyncPage {
  std::string epoch;
  std::vector<nlohmann::json> items;  // inbox envelopes, in seq order
  int64_t next_after = 0;
  bool has_more = false;
};
Result<SyncPage> ParseSyncPage(std::string_view body);

// A 200 of POST /v1/acks.
struct AckAnswer {
  int64_t latest_seq = 0;
  std::string epoch;
};
Result<AckAnswer> ParseAckAnswer(std::string_view body);

// ----- Requests beyond login, send, sync and ack: paths and bodies.

// `segment` made safe as one path segment: every byte but A-Z a-z 0-9 - . _ ~ : is
// percent-encoded, so that a "/" or "?" in an id cannot change which path is asked for.
std::string PathSegment(std::string_view segment);
// "/v1/conversations/<conv>/messages", with ?before= and &limit= unless they are 0.
std::string HistoryPath(std::string_view conv, int64_t before, int limit);
// "/v1/conversations", with ?limit= unless it is 0.
std::string ConversationsPath(int limit);
// "/v1/presence?users=a,b,c".
std::string PresencePath(const std::vector<std::string>& users);

// The bodies of POST /v1/groups ({group_id?, name, members}: no group_id when it is empty, so
// the server picks one), POST /v1/groups/{gid}/members ({user_ids}), POST /v1/friends/requests
// ({to, note?}: no note when empty), POST /v1/blocks ({user_id}), POST .../read ({conv_seq}) and
// POST /v1/signals ({to, kind}). Strings that are not UTF-8 are replaced, never thrown on.
std::string EncodeCreateGroup(const std::string& group_id, const std::string& name,
                              const std::vector<std::string>& members);
std::string EncodeAddMembers(const std::vector<std::string>& user_ids);
// PATCH /v1/groups/{gid}/members/{uid} ({role}).
std::string EncodeSetRole(const std::string& role);
std::string EncodeFriendRequest(const std::string& to, const std::string& note);
std::string EncodeBlock(const std::string& user_id);
std::string EncodeReadMark(int64_t conv_seq);
std::string EncodeSignal(const std::string& to, const std::string& kind);

// ----- Answers. Each parser: InvalidJson when the text is not a JSON object, InvalidField naming
// the first field that is missing or of the wrong type otherwise. Fields the SDK does not know
// are ignored.

// A group (POST /v1/groups, GET /v1/groups/{gid}, POST .../members): group_id, name and members
// [{user_id, role}] required; owner (null: "") and created_at optional.
Result<Group> ParseGroup(std::string_view body);
// POST /v1/friends/requests: {request_id}.
Result<std::string> ParseFriendRequestId(std::string_view body);
// GET /v1/friends/requests: {items: [{request_id, from, note?, ts?}]}.
Result<std::vector<FriendRequest>> ParseFriendRequests(std::string_view body);
// GET /v1/friends: {items: [{user_id, since?}]}.
Result<std::vector<Friend>> ParseFriends(std::string_view body);
// GET /v1/blocks: {items: [{user_id}]}; the user ids, in the server's order.
Result<std::vector<std::string>> ParseBlocks(std::string_view body);
// POST /v1/rooms/{rid}/join: {topic}; "" when the answer names none (the SDK then derives it with
// RoomTopic).
Result<std::string> ParseRoomJoinAnswer(std::string_view body);
// GET /v1/conversations: {items: [{conv, last (an object), unread}]}, newest activity first.
Result<std::vector<ConversationSummary>> ParseConversations(std::string_view body);
// GET /v1/conversations/{conv}/messages: {items: [objects], has_more}.
Result<MessagePage> ParseMessagePage(std::string_view body);
// GET /v1/presence: {user: {online, last_seen (ms, or null for never)}}.
Result<std::map<std::string, Presence>> ParsePresence(std::string_view body);

// The answers again as the server's JSON (the CLI prints them): ParseX(ToJson(x).dump()) gives
// x back. A last_seen of 0 and an owner of "" are null.
nlohmann::json ToJson(const Group& group);
nlohmann::json ToJson(const FriendRequest& request);
nlohmann::json ToJson(const Friend& f);
nlohmann::json ToJson(const ConversationSummary& summary);
nlohmann::json ToJson(const MessagePage& page);
nlohmann::json ToJson(const std::map<std::string, Presence>& presence);

// ----- Rooms.

// Where a room's messages are published: <root>/r/<room_id>, with the root of the login's inbox
// topic (<root>/u/<user_id>; "courier/u/alice" has the root "courier"). InvalidField if the
// inbox topic is not of that form or the room id is not a valid id.
Result<std::string> RoomTopic(std::string_view inbox_topic, std::string_view room_id);

// The string at `key` of a JSON object; "" when absent or not a string. Never throws.
std::string StringField(const nlohmann::json& object, const char* key);

}  // namespace courier::client
