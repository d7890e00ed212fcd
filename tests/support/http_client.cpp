#include "tests/support/http_client.h"

#include <cctype>
#include <cstdio>

namespace courier::testing {

std::string HttpResponse::header(const std::string& name) const {
  // httplib::Headers compares names case-insensitively.
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

std::string HttpResponse::error_code() const {
  if (!json.is_object() || !json.contains("error") || !json["error"].is_object()) return {};
  const auto& code = json["error"].value("code", nlohmann::json());
  return code.is_string() ? code.get<std::string>() : std::string();
}

std::string HttpResponse::Describe() const {
  if (status == 0) return "no answer: " + error;
  return std::to_string(status) + " " + (body.size() > 2000 ? body.substr(0, 2000) + "…" : body);
}

HttpClient::HttpClient(int port, std::string host) : host_(std::move(host)), port_(port) {}

HttpResponse HttpClient::Post(const std::string& path, const nlohmann::json& body,
                              const std::string& token) const {
  return Send("POST", path, body.dump(), "application/json", token);
}

HttpResponse HttpClient::Get(const std::string& path, const std::string& token) const {
  return Send("GET", path, "", "", token);
}

HttpResponse HttpClient::Delete(const std::string& path, const std::string& token) const {
  return Send("DELETE", path, "", "", token);
}

HttpResponse HttpClient::Send(const std::string& method, const std::string& path,
                              const std::string& body, const std::string& content_type,
                              const std::string& token, const httplib::Headers& headers) const {
  httplib::Client client(host_, port_);
  client.set_keep_alive(false);
  client.set_connection_timeout(2, 0);
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(timeout_);
  const auto usecs = std::chrono::duration_cast<std::chrono::microseconds>(timeout_ - secs);
  client.set_read_timeout(secs.count(), usecs.count());
  client.set_write_timeout(secs.count(), usecs.count());

  httplib::Request req;
  req.method = method;
  req.path = path;
  req.headers = headers;
  if (!token.empty()) req.headers.emplace("Authorization", "Bearer " + token);
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    req.body = body;
    if (!content_type.empty()) req.headers.emplace("Content-Type", content_type);
  }

  HttpResponse out;
  httplib::Result res = client.send(req);
  if (!res) {
    out.error = httplib::to_string(res.error());
    return out;
  }
  out.status = res->status;
  out.body = res->body;
  out.headers = res->headers;
  out.json = nlohmann::json::parse(out.body, nullptr, /*allow_exceptions=*/false);
  if (out.json.is_discarded()) out.json = nullptr;
  return out;
}

std::string UrlEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

}  // namespace courier::testing
