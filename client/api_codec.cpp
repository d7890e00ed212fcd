#include "client/api_codec.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "common/ids.h"

namespace courier::client {

namespace {

using nlohmann::json;

// Parses untrusted text without exceptions; null json() when it is not JSON.
json ParseJson(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? json() : j;
}

const json* Member(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

bool IntField(const json& object, const char* key, int64_t* out) {
  const json* v = Member(object, key);
  if (v == nullptr || !v->is_number_integer()) return false;
  *out = v->get<int64_t>();
  return true;
}

bool NonEmptyString(const json& object, const char* key, std::string* out) {
  const json* v = Member(object, key);
  if (v == nullptr || !v->is_string() || v->get_ref<const std::string&>().empty()) return false;
  *out = v->get<std::string>();
  return true;
}

Status Missing(std::string_view what, std::string_view field) {
  return Status::InvalidField(std::string(what) + ": " + std::string(field) +
                              " is missing or of the wrong type");
}

// An optional integer: absent or null leaves *out alone; anything else but an integer is false.
bool OptionalIntField(const json& object, const char* key, int64_t* out) {
  const json* v = Member(object, key);
  if (v == nullptr || v->is_null()) return true;
  if (!v->is_number_integer()) return false;
  *out = v->get<int64_t>();
  return true;
}

// An optional string: absent or null leaves *out alone; anything else but a string is false.
bool OptionalStringField(const json& object, const char* key, std::string* out) {
  const json* v = Member(object, key);
  if (v == nullptr || v->is_null()) return true;
  if (!v->is_string()) return false;
  *out = v->get<std::string>();
  return true;
}

// The answer as a JSON object, or InvalidJson naming `what`.
Result<json> ParseObject(std::string_view body, std::string_view what) {
  json j = ParseJson(body);
  if (!j.is_object()) return Status::InvalidJson(std::string(what) + " is not a JSON object");
  return j;
}

// The array at `key`, every element an object; nullptr if it is not that (the caller says so).
const json* ObjectArray(const json& object, const char* key) {
  const json* v = Member(object, key);
  if (v == nullptr || !v->is_array()) return nullptr;
  for (const json& item : *v) {
    if (!item.is_object()) return nullptr;
  }
  return v;
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

bool ParsePort(std::string_view text, int* port) {
  int p = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), p);
  if (ec != std::errc() || end != text.data() + text.size() || p < 1 || p > 65535) return false;
  *port = p;
  return true;
}

}  // namespace

Status StatusFromCodeName(std::string_view code, std::string message, int retry_after_s) {
  if (code == "invalid_json") return Status::InvalidJson(std::move(message));
  if (code == "invalid_field") return Status::InvalidField(std::move(message));
  if (code == "unauthorized") return Status::Unauthorized(std::move(message));
  if (code == "forbidden") return Status::Forbidden(std::move(message));
  if (code == "not_member") return Status::NotMember(std::move(message));
  if (code == "blocked") return Status::Blocked(std::move(message));
  if (code == "not_found") return Status::NotFound(std::move(message));
  if (code == "method_not_allowed") return Status::MethodNotAllowed(std::move(message));
  if (code == "conflict") return Status::Conflict(std::move(message));
  if (code == "too_large") return Status::TooLarge(std::move(message));
  if (code == "rate_limited") return Status::RateLimited(std::move(message), retry_after_s);
  if (code == "unavailable") return Status::Unavailable(std::move(message));
  if (code == "internal") return Status::Internal(std::move(message));
  return Status::Ok();
}

namespace {

Status StatusForHttpStatus(int status, std::string message, int retry_after_s) {
  switch (status) {
    case 400:
      return Status::InvalidField(std::move(message));
    case 401:
      return Status::Unauthorized(std::move(message));
    case 403:
      return Status::Forbidden(std::move(message));
    case 404:
      return Status::NotFound(std::move(message));
    case 405:
      return Status::MethodNotAllowed(std::move(message));
    case 409:
      return Status::Conflict(std::move(message));
    case 413:
      return Status::TooLarge(std::move(message));
    case 429:
      return Status::RateLimited(std::move(message), retry_after_s);
    case 500:
      return Status::Internal(std::move(message));
    default:
      break;
  }
  if (status > 500 && status < 600) return Status::Unavailable(std::move(message));
  return Status::Internal("unexpected answer: " + message);
}

}  // namespace

Result<BaseUrl> ParseBaseUrl(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    return Status::InvalidField("base url must start with http:// (got \"" + std::string(url) +
                                "\")");
  }
  std::string_view rest = url.substr(kScheme.size());
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  BaseUrl out;
  size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
    if (!ParsePort(authority.substr(colon + 1), &out.port)) {
      return Status::InvalidField("base url has a bad port: " + std::string(url));
    }
    authority = authority.substr(0, colon);
  }
  if (authority.size() >= 2 && authority.front() == '[' && authority.back() == ']') {
    authority = authority.substr(1, authority.size() - 2);  // [::1]
  }
  if (authority.empty()) return Status::InvalidField("base url has no host: " + std::string(url));
  out.host = std::string(authority);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  out.path_prefix = std::string(path);
  return out;
}

Status StatusFromAnswer(const HttpAnswer& answer) {
  if (answer.status == 0) {
    return Status::Unavailable(
        "no answer: " + (answer.error.empty() ? std::string("unknown error") : answer.error));
  }
  int retry_after_s = static_cast<int>(
      std::chrono::duration_cast<std::chrono::seconds>(RetryAfterOf(answer)).count());
  json body = ParseJson(answer.body);
  const json* error = Member(body, "error");
  std::string code = error ? StringField(*error, "code") : std::string();
  std::string message = error ? StringField(*error, "message") : std::string();
  if (message.empty()) message = "HTTP " + std::to_string(answer.status);
  Status by_code = StatusFromCodeName(code, message, retry_after_s);
  if (!by_code.ok()) return by_code;
  return StatusForHttpStatus(answer.status, std::move(message), retry_after_s);
}

SendVerdict ClassifySendAnswer(const HttpAnswer& answer) {
  if (answer.status == 201) return SendVerdict::kStored;
  if (answer.status == 200) return SendVerdict::kDuplicate;
  if (answer.status == 0 || answer.status == 429 || answer.status >= 500) {
    return SendVerdict::kRetry;
  }
  return SendVerdict::kFail;
}

std::chrono::milliseconds RetryAfterOf(const HttpAnswer& answer) {
  const std::string& text = answer.retry_after;
  int64_t seconds = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || seconds < 0) {
    return std::chrono::milliseconds(0);
  }
  return std::chrono::seconds(std::min<int64_t>(seconds, 3600));
}

namespace {

// The mqtt block's fields, as the login answer and GET /v1/mqtt carry it; `what` names the answer.
Status CheckMqttBlock(std::string_view what, const json* mqtt) {
  if (mqtt == nullptr || !mqtt->is_object()) return Missing(what, "mqtt");
  std::string s;
  int64_t port = 0;
  for (const char* key : {"host", "client_id", "username", "password"}) {
    if (!NonEmptyString(*mqtt, key, &s)) return Missing(what, std::string("mqtt.") + key);
  }
  if (!IntField(*mqtt, "port", &port) || port < 1 || port > 65535) {
    return Missing(what, "mqtt.port");
  }
  const json* topics = Member(*mqtt, "topics");
  if (topics == nullptr || !NonEmptyString(*topics, "inbox", &s)) {
    return Missing(what, "mqtt.topics.inbox");
  }
  if (!NonEmptyString(*topics, "device", &s)) return Missing(what, "mqtt.topics.device");
  return Status::Ok();
}

}  // namespace

Result<LoginInfo> ParseLoginAnswer(std::string_view body) {
  constexpr std::string_view kWhat = "login answer";
  json j = ParseJson(body);
  if (!j.is_object()) return Status::InvalidJson("login answer is not a JSON object");
  LoginInfo info;
  if (!NonEmptyString(j, "token", &info.token)) return Missing(kWhat, "token");
  if (!NonEmptyString(j, "user_id", &info.user_id)) return Missing(kWhat, "user_id");
  if (!NonEmptyString(j, "device_id", &info.device_id)) return Missing(kWhat, "device_id");
  if (!IntField(j, "expires_at", &info.expires_at_ms)) return Missing(kWhat, "expires_at");
  const json* mqtt = Member(j, "mqtt");
  if (Status s = CheckMqttBlock(kWhat, mqtt); !s.ok()) return s;
  info.mqtt = *mqtt;
  return info;
}

Result<json> ParseMqttAnswer(std::string_view body) {
  json j = ParseJson(body);
  if (!j.is_object()) return Status::InvalidJson("mqtt answer is not a JSON object");
  if (Status s = CheckMqttBlock("mqtt answer", &j); !s.ok()) return s;
  return j;
}

json LoginInfoToJson(const LoginInfo& info) {
  return {{"token", info.token},
          {"user_id", info.user_id},
          {"device_id", info.device_id},
          {"expires_at", info.expires_at_ms},
          {"mqtt", info.mqtt}};
}

Result<SendResult> ParseSendAnswer(std::string_view body) {
  constexpr std::string_view kWhat = "send answer";
  json j = ParseJson(body);
  if (!j.is_object()) return Status::InvalidJson("send answer is not a JSON object");
  SendResult r;
  if (!NonEmptyString(j, "id", &r.id)) return Missing(kWhat, "id");
  if (!NonEmptyString(j, "conv", &r.conv)) return Missing(kWhat, "conv");
  if (!IntField(j, "conv_seq", &r.conv_seq)) return Missing(kWhat, "conv_seq");
  if (!IntField(j, "ts", &r.ts)) return Missing(kWhat, "ts");
  return r;
}

Result<SyncPage> ParseSyncPage(std::string_view body) {
  constexpr std::string_view kWhat = "sync page";
  json j = ParseJson(body);
  if (!j.is_object()) return Status::InvalidJson("sync page is not a JSON object");
  SyncPage page;
  if (!NonEmptyString(j, "epoch", &page.epoch)) return Missing(kWhat, "epoch");
  if (!IntField(j, "next_after", &page.next_after)) return Missing(kWhat, "next_after");
  const json* has_more = Member(j, "has_more");
  if (has_more == nullptr || !has_more->is_boolean()) return Missing(kWhat, "has_more");
  page.has_more = has_more->get<bool>();
  const json* items = Member(j, "items");
  if (items == nullptr || !items->is_array()) return Missing(kWhat, "items");
  page.items.reserve(items->size());
  for (const json& item : *items) {
    if (!item.is_object()) return Status::InvalidField("sync page: an item is not an object");
    page.items.push_back(item);
  }
  return page;
}

Result<AckAnswer> ParseAckAnswer(std::string_view body) {
  constexpr std::string_view kWhat = "ack answer";
  json j = ParseJson(body);
  if (!j.is_object()) return Status::InvalidJson("ack answer is not a JSON object");
  AckAnswer a;
  if (!IntField(j, "latest_seq", &a.latest_seq) || a.latest_seq < 0) {
    return Missing(kWhat, "latest_seq");
  }
  if (!NonEmptyString(j, "epoch", &a.epoch)) return Missing(kWhat, "epoch");
  return a;
}

// ----- Requests.

std::string PathSegment(std::string_view segment) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(segment.size());
  for (char c : segment) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '-' || c == '.' || c == '_' || c == '~' || c == ':') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 0x0F];
    }
  }
  return out;
}

std::string HistoryPath(std::string_view conv, int64_t before, int limit) {
  std::string path = "/v1/conversations/" + PathSegment(conv) + "/messages";
  char sep = '?';
  if (before > 0) {
    path += sep + std::string("before=") + std::to_string(before);
    sep = '&';
  }
  if (limit > 0) path += sep + std::string("limit=") + std::to_string(limit);
  return path;
}

std::string ConversationsPath(int limit) {
  return limit > 0 ? "/v1/conversations?limit=" + std::to_string(limit) : "/v1/conversations";
}

std::string PresencePath(const std::vector<std::string>& users) {
  std::string list;
  for (const std::string& u : users) {
    if (!list.empty()) list += ',';
    list += PathSegment(u);
  }
  return "/v1/presence?users=" + list;
}

std::string EncodeCreateGroup(const std::string& group_id, const std::string& name,
                              const std::vector<std::string>& members) {
  json j = {{"name", name}, {"members", members}};
  if (!group_id.empty()) j["group_id"] = group_id;
  return Dump(j);
}

std::string EncodeAddMembers(const std::vector<std::string>& user_ids) {
  return Dump(json{{"user_ids", user_ids}});
}

std::string EncodeSetRole(const std::string& role) { return Dump(json{{"role", role}}); }

std::string EncodeFriendRequest(const std::string& to, const std::string& note) {
  json j = {{"to", to}};
  if (!note.empty()) j["note"] = note;
  return Dump(j);
}

std::string EncodeBlock(const std::string& user_id) { return Dump(json{{"user_id", user_id}}); }

std::string EncodeReadMark(int64_t conv_seq) { return Dump(json{{"conv_seq", conv_seq}}); }

std::string EncodeSignal(const std::string& to, const std::string& kind) {
  return Dump(json{{"to", to}, {"kind", kind}});
}

// ----- Answers.

Result<Group> ParseGroup(std::string_view body) {
  constexpr std::string_view kWhat = "group";
  Result<json> j = ParseObject(body, kWhat);
  if (!j.ok()) return j.status();
  Group g;
  if (!NonEmptyString(*j, "group_id", &g.group_id)) return Missing(kWhat, "group_id");
  const json* name = Member(*j, "name");
  if (name == nullptr || !name->is_string()) return Missing(kWhat, "name");
  g.name = name->get<std::string>();
  // null once the owner has left a group that lives on.
  if (!OptionalStringField(*j, "owner", &g.owner)) return Missing(kWhat, "owner");
  if (!OptionalIntField(*j, "created_at", &g.created_at_ms)) return Missing(kWhat, "created_at");
  const json* members = ObjectArray(*j, "members");
  if (members == nullptr) return Missing(kWhat, "members");
  for (const json& m : *members) {
    GroupMember member;
    if (!NonEmptyString(m, "user_id", &member.user_id)) return Missing(kWhat, "members.user_id");
    if (!NonEmptyString(m, "role", &member.role)) return Missing(kWhat, "members.role");
    g.members.push_back(std::move(member));
  }
  return g;
}

Result<std::string> ParseFriendRequestId(std::string_view body) {
  constexpr std::string_view kWhat = "friend request answer";
  Result<json> j = ParseObject(body, kWhat);
  if (!j.ok()) return j.status();
  std::string id;
  if (!NonEmptyString(*j, "request_id", &id)) return Missing(kWhat, "request_id");
  return id;
}

Result<std::vector<FriendRequest>> ParseFriendRequests(std::string_view body) {
  constexpr std::string_view kWhat = "friend requests";
  Result<json> j = ParseObject(body, kWhat);
  if (!j.ok()) return j.status();
  const json* items = ObjectArray(*j, "items");
  if (items == nullptr) return Missing(kWhat, "items");
  std::vector<FriendRequest> out;
  for (const json& item : *items) {
    FriendRequest r;
    if (!NonEmptyString(item, "request_id", &r.request_id)) {
      return Missing(kWhat, "items.request_id");
    }
    if (!NonEmptyString(item, "from", &r.from)) return Missing(kWhat, "items.from");
    if (!OptionalStringField(item, "note", &r.note)) return Missing(kWhat, "items.note");
    if (!OptionalIntField(item, "ts", &r.ts)) return Missing(kWhat, "items.ts");
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<Friend>> ParseFriends(std::string_view body) {
  constexpr std::string_view kWhat = "friends";
  Result<json> j = ParseObject(body, kWhat);
  if (!j.ok()) return j.status();
  const json* items = ObjectArray(*j, "items");
  if (items == nullptr) return Missing(kWhat, "items");
  std::vector<Friend> out;
  for (const json& item : *items) {
    Friend f;
    if (!NonEmptyString(item, "user_id", &f.user_id)) return Missing(kWhat, "items.user_id");
    if (!OptionalIntField(item, "since", &f.since_ms)) return Missing(kWhat, "items.since");
    out.push_back(std::move(f));
  }
  return out;
}

Result<std::vector<std::string>> ParseBlocks(std::string_view body) {
  constexpr std::string_view kWhat = "blocks";
  Result<json> j = ParseObject(body, kWhat);
  if (!j.ok()) return j.status();
  const json* items = ObjectArray(*j, "items");
  if (items == nullptr) return Missing(kWhat, "items");
  std::vector<std::string> out;
  for (const json& item : *items) {
    std::string user;
    if (!NonEmptyString(item, "user_id", &user)) return Missing(kWhat, "items.user_id");
    out.push_back(std::move(user));
  }
  return out;
}

Result<std::string> ParseRoomJoinAnswer(std::string_view body) {
  constexpr std::string_view kWhat = "room join answer";
  // A 200 with no body at all is a join too; only a body that says something else is wrong.
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return std::string();
  Result<json> j = ParseObject(body, kWhat);
  if (!j.ok()) return j.status();
  std::string topic;
  if (!OptionalStringField(*j, "topic", &topic)) return Missing(kWhat, "topic");
  return topic;
}

Result<std::vector<ConversationSummary>> ParseConversations(std::string_view body) {
  constexpr std::string_view kWhat = "conversations";
  Result<json> j = ParseObject(body, kWhat);
  if (!j.ok()) return j.status();
  const json* items = ObjectArray(*j, "items");
  if (items == nullptr) return Missing(kWhat, "items");
  std::vector<ConversationSummary> out;
  for (const json& item : *items) {
    ConversationSummary c;
    if (!NonEmptyString(item, "conv", &c.conv)) return Missing(kWhat, "items.conv");
    const json* last = Member(item, "last");
    if (last == nullptr || !last->is_object()) return Missing(kWhat, "items.last");
    c.last = *last;
    if (!IntField(item, "unread", &c.unread) || c.unread < 0) return Missing(kWhat, "items.unread");
    out.push_back(std::move(c));
  }
  return out;
}

Result<MessagePage> ParseMessagePage(std::string_view body) {
  constexpr std::string_view kWhat = "message page";
  Result<json> j = ParseObject(body, kWhat);
  if (!j.ok()) return j.status();
  const json* items = ObjectArray(*j, "items");
  if (items == nullptr) return Missing(kWhat, "items");
  const json* has_more = Member(*j, "has_more");
  if (has_more == nullptr || !has_more->is_boolean()) return Missing(kWhat, "has_more");
  MessagePage page;
  page.items.assign(items->begin(), items->end());
  page.has_more = has_more->get<bool>();
  return page;
}

Result<std::map<std::string, Presence>> ParsePresence(std::string_view body) {
  constexpr std::string_view kWhat = "presence";
  Result<json> j = ParseObject(body, kWhat);
  if (!j.ok()) return j.status();
  std::map<std::string, Presence> out;
  for (const auto& [user, state] : j->items()) {
    Presence p;
    const json* online = Member(state, "online");
    if (online == nullptr || !online->is_boolean()) return Missing(kWhat, user + ".online");
    p.online = online->get<bool>();
    if (!OptionalIntField(state, "last_seen", &p.last_seen_ms)) {
      return Missing(kWhat, user + ".last_seen");
    }
    out.emplace(user, p);
  }
  return out;
}

json ToJson(const Group& group) {
  json members = json::array();
  for (const GroupMember& m : group.members) {
    members.push_back({{"user_id", m.user_id}, {"role", m.role}});
  }
  json j = {{"group_id", group.group_id},
            {"name", group.name},
            {"owner", group.owner.empty() ? json() : json(group.owner)},
            {"members", std::move(members)}};
  if (group.created_at_ms != 0) j["created_at"] = group.created_at_ms;
  return j;
}

json ToJson(const FriendRequest& request) {
  return {{"request_id", request.request_id},
          {"from", request.from},
          {"note", request.note},
          {"ts", request.ts}};
}

json ToJson(const Friend& f) { return {{"user_id", f.user_id}, {"since", f.since_ms}}; }

json ToJson(const ConversationSummary& summary) {
  return {{"conv", summary.conv}, {"last", summary.last}, {"unread", summary.unread}};
}

json ToJson(const MessagePage& page) {
  return {{"items", page.items}, {"has_more", page.has_more}};
}

json ToJson(const std::map<std::string, Presence>& presence) {
  json j = json::object();
  for (const auto& [user, p] : presence) {
    j[user] = {{"online", p.online},
               {"last_seen", p.last_seen_ms != 0 ? json(p.last_seen_ms) : json()}};
  }
  return j;
}

// ----- Rooms.

Result<std::string> RoomTopic(std::string_view inbox_topic, std::string_view room_id) {
  if (!IsValidId(room_id)) {
    return Status::InvalidField("room id must be 1-64 characters of [A-Za-z0-9_.-]");
  }
  // <root>/u/<user_id>: the user id has no "/", so the last two levels are "u" and the user.
  const size_t user_slash = inbox_topic.rfind('/');
  if (user_slash != std::string_view::npos && user_slash >= 2 &&
      inbox_topic.substr(user_slash - 2, 3) == "/u/" && user_slash + 1 < inbox_topic.size() &&
      user_slash - 2 > 0) {
    return std::string(inbox_topic.substr(0, user_slash - 2)) + "/r/" + std::string(room_id);
  }
  return Status::InvalidField("inbox topic \"" + std::string(inbox_topic) +
                              "\" is not <root>/u/<user_id>");
}

std::string StringField(const json& object, const char* key) {
  const json* v = Member(object, key);
  return v != nullptr && v->is_string() ? v->get<std::string>() : std::string();
}

}  // namespace courier::client
