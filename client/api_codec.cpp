#include "client/api_codec.h"

#include <algorithm>
#include <charconv>

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
  if (mqtt == nullptr || !mqtt->is_object()) return Missing(kWhat, "mqtt");
  std::string s;
  int64_t port = 0;
  for (const char* key : {"host", "client_id", "username", "password"}) {
    if (!NonEmptyString(*mqtt, key, &s)) return Missing(kWhat, std::string("mqtt.") + key);
  }
  if (!IntField(*mqtt, "port", &port) || port < 1 || port > 65535) {
    return Missing(kWhat, "mqtt.port");
  }
  const json* topics = Member(*mqtt, "topics");
  if (topics == nullptr || !NonEmptyString(*topics, "inbox", &s)) {
    return Missing(kWhat, "mqtt.topics.inbox");
  }
  if (!NonEmptyString(*topics, "device", &s)) return Missing(kWhat, "mqtt.topics.device");
  info.mqtt = *mqtt;
  return info;
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

std::string StringField(const json& object, const char* key) {
  const json* v = Member(object, key);
  return v != nullptr && v->is_string() ? v->get<std::string>() : std::string();
}

}  // namespace courier::client
