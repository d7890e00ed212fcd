#include "bench/api_session.h"

#include <httplib.h>

#include <chrono>
#include <thread>

namespace courier::bench {

using client::HttpAnswer;
using nlohmann::json;

ApiSession::ApiSession(const client::BaseUrl& base, int timeout_s)
    : base_(base), http_(std::make_unique<httplib::Client>(base.host, base.port)) {
  http_->set_keep_alive(true);
  http_->set_tcp_nodelay(true);
  http_->set_connection_timeout(timeout_s, 0);
  http_->set_read_timeout(timeout_s, 0);
  http_->set_write_timeout(timeout_s, 0);
}

ApiSession::~ApiSession() = default;

HttpAnswer ApiSession::Call(const std::string& method, const std::string& path,
                            const std::string& body, const std::string& token) {
  httplib::Request req;
  req.method = method;
  req.path = base_.path_prefix + path;
  if (!token.empty()) req.headers.emplace("Authorization", "Bearer " + token);
  if (!body.empty()) {
    req.body = body;
    req.headers.emplace("Content-Type", "application/json");
  }
  HttpAnswer answer;
  httplib::Result res = http_->send(req);
  if (!res) {
    answer.error = httplib::to_string(res.error());
    return answer;
  }
  answer.status = res->status;
  answer.body = std::move(res->body);
  answer.retry_after = res->get_header_value("Retry-After");
  return answer;
}

Status ApiSession::Register(const std::string& user_id, const std::string& password) {
  HttpAnswer a =
      Call("POST", "/v1/users", json{{"user_id", user_id}, {"password", password}}.dump(), "");
  if (a.status == 201 || a.status == 409) return Status::Ok();
  return client::StatusFromAnswer(a);
}

Result<client::LoginInfo> ApiSession::Login(const std::string& user_id, const std::string& password,
                                            const std::string& device_id) {
  json body = {{"user_id", user_id}, {"password", password}, {"device_id", device_id}};
  HttpAnswer a = Call("POST", "/v1/sessions", body.dump(), "");
  if (a.status != 200) return client::StatusFromAnswer(a);
  return client::ParseLoginAnswer(a.body);
}

Result<client::SendResult> ApiSession::Send(const std::string& token, const std::string& to,
                                            const std::string& cmid, const json& body,
                                            int attempts) {
  std::string request = json{{"to", to}, {"cmid", cmid}, {"body", body}}.dump();
  Status last = Status::Unavailable("not sent");
  for (int i = 0; i < attempts; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50 * i));
    HttpAnswer a = Call("POST", "/v1/messages", request, token);
    switch (client::ClassifySendAnswer(a)) {
      case client::SendVerdict::kStored:
      case client::SendVerdict::kDuplicate:
        return client::ParseSendAnswer(a.body);
      case client::SendVerdict::kRetry:
        last = client::StatusFromAnswer(a);
        continue;
      case client::SendVerdict::kFail:
        return client::StatusFromAnswer(a);
    }
  }
  return last;
}

Result<json> ApiSession::Sync(const std::string& token, int64_t after, int limit) {
  HttpAnswer a =
      Call("GET", "/v1/sync?after=" + std::to_string(after) + "&limit=" + std::to_string(limit), "",
           token);
  if (a.status != 200) return client::StatusFromAnswer(a);
  json page = json::parse(a.body, nullptr, false);
  if (page.is_discarded() || !page.is_object() || !page.contains("items") ||
      !page["items"].is_array()) {
    return Status::InvalidJson("sync answer is not {items: [...]}");
  }
  return page;
}

Status ApiSession::CreateGroup(const std::string& token, const std::string& group_id,
                               const std::vector<std::string>& members) {
  json body = {{"group_id", group_id}, {"name", group_id}, {"members", members}};
  HttpAnswer a = Call("POST", "/v1/groups", body.dump(), token);
  if (a.status == 201) return Status::Ok();
  return client::StatusFromAnswer(a);
}

}  // namespace courier::bench
