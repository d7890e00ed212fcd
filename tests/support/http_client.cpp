#include "tests/support/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

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
  // cpp-httplib binds to this address when no interface has that name.
  if (!source_address_.empty()) client.set_interface(source_address_);

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

HttpResponse RawHttpExchange(int port, const std::string& raw) {
  HttpResponse out;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    out.error = "socket";
    return out;
  }
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  std::string answer;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    out.error = "connect";
  } else {
    // The server may answer and close before it has read everything: a short write is fine.
    send(fd, raw.data(), raw.size(), MSG_NOSIGNAL);
    char buf[4096];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0) answer.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  const size_t end_of_head = answer.find("\r\n\r\n");
  if (answer.rfind("HTTP/1.", 0) != 0 || answer.size() < 12 || end_of_head == std::string::npos) {
    if (out.error.empty()) out.error = "no HTTP answer: " + answer.substr(0, 200);
    return out;
  }
  out.status = std::stoi(answer.substr(9, 3));
  size_t line = answer.find("\r\n") + 2;
  while (line < end_of_head) {
    size_t eol = answer.find("\r\n", line);
    const std::string header = answer.substr(line, eol - line);
    size_t colon = header.find(':');
    if (colon != std::string::npos) {
      size_t v = header.find_first_not_of(' ', colon + 1);
      out.headers.emplace(header.substr(0, colon),
                          v == std::string::npos ? std::string() : header.substr(v));
    }
    line = eol + 2;
  }
  out.body = answer.substr(end_of_head + 4);
  out.json = nlohmann::json::parse(out.body, nullptr, /*allow_exceptions=*/false);
  if (out.json.is_discarded()) out.json = nullptr;
  return out;
}

}  // namespace courier::testing
