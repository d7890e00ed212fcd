#include "tests/support/courier_api.h"

#include <doctest/doctest.h>

namespace courier::testing {

using nlohmann::json;

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::set<std::string> Keys(const json& object) {
  std::set<std::string> out;
  if (!object.is_object()) return out;
  for (auto it = object.begin(); it != object.end(); ++it) out.insert(it.key());
  return out;
}

TokenClaims ClaimsOf(const std::string& token) {
  size_t dot1 = token.find('.');
  size_t dot2 = token.find('.', dot1 + 1);
  REQUIRE(dot2 != std::string::npos);
  std::string payload;
  REQUIRE(Base64UrlDecode(token.substr(dot1 + 1, dot2 - dot1 - 1), &payload));
  json j = json::parse(payload);
  TokenClaims c;
  c.user_id = j["sub"].get<std::string>();
  c.device_id = j["dev"].get<std::string>();
  c.session_id = j["sid"].get<std::string>();
  c.platform = j["plat"].get<std::string>();
  c.issued_at = j["iat"].get<int64_t>();
  c.expires_at = j["exp"].get<int64_t>();
  return c;
}

std::string PasswordOf(const std::string& user) { return "pw-" + user + "-1"; }

void Register(const HttpClient& http, const std::string& user) {
  HttpResponse r = http.Post("/v1/users", {{"user_id", user}, {"password", PasswordOf(user)}});
  REQUIRE_MESSAGE(r.status == 201, r.Describe());
}

Login LogIn(const HttpClient& http, const std::string& user, const std::string& device,
            const std::string& platform) {
  json request = {{"user_id", user}, {"password", PasswordOf(user)}, {"device_id", device}};
  if (!platform.empty()) request["platform"] = platform;
  HttpResponse r = http.Post("/v1/sessions", request);
  REQUIRE_MESSAGE(r.status == 200, r.Describe());
  return Login{user, device, r.json["token"].get<std::string>(), r.json["mqtt"], r.json};
}

namespace {

void ConnectAndSubscribe(MqttDevice& device, const Login& login, const TestStack& stack,
                         const std::vector<std::string>& topics,
                         std::chrono::milliseconds timeout) {
  REQUIRE_MESSAGE(
      device.Connect(login.client_id(), login.mqtt["username"].get<std::string>(),
                     login.mqtt["password"].get<std::string>(), std::chrono::seconds(30), timeout),
      device.last_error() << "\n"
                          << stack.LogTail(Component::kBroker));
  REQUIRE(device.Subscribe(topics) == std::vector<int>(topics.size(), 1));
}

}  // namespace

void ConnectDevice(MqttDevice& device, const Login& login, const TestStack& stack,
                   std::chrono::milliseconds timeout) {
  ConnectAndSubscribe(device, login, stack, {login.inbox(), login.device_topic()}, timeout);
}

void ConnectInbox(MqttDevice& device, const Login& login, const TestStack& stack) {
  ConnectAndSubscribe(device, login, stack, {login.inbox()}, MqttDevice::kDefaultTimeout);
}

HttpResponse Send(const HttpClient& http, const Login& from, const std::string& to_user,
                  const std::string& cmid, const json& body) {
  return http.Post("/v1/messages", {{"to", "user:" + to_user}, {"cmid", cmid}, {"body", body}},
                   from.token);
}

HttpResponse Send(const HttpClient& http, const Login& from, const std::string& to_user,
                  const std::string& cmid) {
  return Send(http, from, to_user, cmid, json{{"text", cmid}});
}

json SendOk(const HttpClient& http, const Login& from, const std::string& to_user,
            const std::string& cmid, const json& body) {
  HttpResponse r = Send(http, from, to_user, cmid, body);
  REQUIRE_MESSAGE(r.status == 201, r.Describe());
  return r.json;
}

json SendOk(const HttpClient& http, const Login& from, const std::string& to_user,
            const std::string& cmid) {
  return SendOk(http, from, to_user, cmid, json{{"text", cmid}});
}

HttpResponse Sync(const HttpClient& http, const Login& login, const std::string& query) {
  return http.Get("/v1/sync" + query, login.token);
}

std::vector<json> Inbox(const HttpClient& http, const Login& login, std::string* epoch) {
  HttpResponse r = Sync(http, login, "?after=0&limit=1000");
  REQUIRE_MESSAGE(r.status == 200, r.Describe());
  REQUIRE(r.json["has_more"] == false);
  if (epoch != nullptr) *epoch = r.json["epoch"].get<std::string>();
  return r.json["items"].get<std::vector<json>>();
}

std::vector<json> SyncFrom(const HttpClient& http, const Login& login, int64_t after,
                           std::string* epoch) {
  std::vector<json> out;
  for (int page = 0; page < 100; ++page) {
    HttpResponse r = Sync(http, login, "?after=" + std::to_string(after));
    REQUIRE_MESSAGE(r.status == 200, r.Describe());
    if (epoch != nullptr) *epoch = r.json["epoch"].get<std::string>();
    for (const json& item : r.json["items"]) out.push_back(item);
    after = r.json["next_after"].get<int64_t>();
    if (!r.json["has_more"].get<bool>()) return out;
  }
  FAIL("sync did not end within 100 pages");
  return out;
}

std::vector<json> SyncAll(const HttpClient& http, const Login& login, std::string* epoch) {
  return SyncFrom(http, login, 0, epoch);
}

std::vector<json> PushesOn(const MqttDevice& device, const std::string& topic) {
  std::vector<json> out;
  for (const MqttMessage& m : device.MessagesOn(topic)) out.push_back(m.json);
  return out;
}

bool WaitForSeq(const MqttDevice& device, const std::string& topic, int64_t seq,
                std::chrono::milliseconds timeout) {
  return device.WaitFor(
      [&](const MqttMessage& m) {
        return m.topic == topic && m.json.is_object() && m.json.value("seq", int64_t{-1}) == seq;
      },
      1, timeout);
}

bool WaitForCmid(const MqttDevice& device, const std::string& cmid,
                 std::chrono::milliseconds timeout) {
  return device.WaitFor(
      [&](const MqttMessage& m) { return m.json.is_object() && m.json.value("cmid", "") == cmid; },
      1, timeout);
}

}  // namespace courier::testing

// ===== Beyond one-to-one messaging (SPEC §3-§4): groups, rooms, friends, conversations. =====

#include <thread>

namespace courier::testing {

using nlohmann::json;

HttpResponse SendTo(const HttpClient& http, const Login& from, const std::string& to,
                    const std::string& cmid, const json& body) {
  return http.Post("/v1/messages", {{"to", to}, {"cmid", cmid}, {"body", body}}, from.token);
}

json SendToOk(const HttpClient& http, const Login& from, const std::string& to,
              const std::string& cmid) {
  HttpResponse r = SendTo(http, from, to, cmid, json{{"text", cmid}});
  REQUIRE_MESSAGE(r.status == 201, to << " " << cmid << ": " << r.Describe());
  return r.json;
}

json CreateGroup(const HttpClient& http, const Login& owner, const std::string& group_id,
                 const std::vector<std::string>& members) {
  HttpResponse r =
      http.Post("/v1/groups", {{"group_id", group_id}, {"name", group_id}, {"members", members}},
                owner.token);
  REQUIRE_MESSAGE(r.status == 201, r.Describe());
  return r.json;
}

HttpResponse AddMembers(const HttpClient& http, const Login& by, const std::string& group_id,
                        const std::vector<std::string>& user_ids) {
  return http.Post("/v1/groups/" + group_id + "/members", {{"user_ids", user_ids}}, by.token);
}

HttpResponse RemoveMember(const HttpClient& http, const Login& by, const std::string& group_id,
                          const std::string& user_id) {
  return http.Delete("/v1/groups/" + group_id + "/members/" + user_id, by.token);
}

std::vector<json> SyncUntil(const HttpClient& http, const Login& login,
                            const std::function<bool(const std::vector<json>&)>& done,
                            std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    std::vector<json> items = SyncAll(http, login);
    if (done(items) || std::chrono::steady_clock::now() >= deadline) return items;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
}

std::vector<json> SyncUntilCount(const HttpClient& http, const Login& login, size_t n,
                                 std::chrono::milliseconds timeout) {
  return SyncUntil(
      http, login, [n](const std::vector<json>& items) { return items.size() >= n; }, timeout);
}

std::string EntryLabels(const std::vector<json>& items) {
  std::string out;
  for (const json& e : items) {
    if (!out.empty()) out += ", ";
    const std::string type = e.is_object() ? e.value("type", "") : "";
    if (type == "notification") {
      out += e.value("event", "?");
    } else if (type == "message") {
      out += "msg:" + e.value("cmid", "?");
    } else if (type == "signal") {
      out += "signal:" + e.value("kind", "?");
    } else {
      out += "?" + e.dump();
    }
  }
  return out;
}

std::vector<json> EventsOf(const std::vector<json>& items, const std::string& event) {
  std::vector<json> out;
  for (const json& e : items) {
    if (e.value("type", "") == "notification" && e.value("event", "") == event) out.push_back(e);
  }
  return out;
}

bool SeqsAreContiguousFromOne(const std::vector<json>& items) {
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].is_object() || items[i].value("seq", int64_t{-1}) != static_cast<int64_t>(i + 1))
      return false;
  }
  return true;
}

}  // namespace courier::testing
