// A small HTTP client for tests of the uplink's JSON API, over cpp-httplib.
//
//   HttpClient http(stack.http_port());
//   auto r = http.Post("/v1/users", {{"user_id", "alice"}, {"password", "pw-alice-1"}});
//   CHECK_MESSAGE(r.status == 201, r.Describe());
//
// Each request uses a connection of its own, closed afterwards: a test never holds one of the
// uplink's worker threads with an idle keep-alive connection.
//
// Thread-safety: thread-safe; one client may be shared by threads sending concurrently.
#pragma once

#include <httplib.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

namespace courier::testing {

struct HttpResponse {
  int status = 0;       // 0: no answer (refused, reset, timed out); then `error` says why
  nlohmann::json json;  // the body parsed; null when empty or not JSON
  std::string body;     // the body as received
  httplib::Headers headers;
  std::string error;

  bool ok() const { return status >= 200 && status < 300; }
  // A header's value, "" if absent. Names are case-insensitive.
  std::string header(const std::string& name) const;
  // `json["error"]["code"]` or "": the API's error code.
  std::string error_code() const;
  // "409 {...body...}" or "no answer: Connection", for CHECK messages.
  std::string Describe() const;
};

// Sends `raw` bytes as a whole HTTP request to 127.0.0.1:`port` on a connection of its own and
// parses the answer: for requests HttpClient cannot send (a Content-Length larger than what
// follows, huge header lines, a head without its body). A short write is fine: the server may
// answer and close before reading everything. status 0 if no HTTP answer came within 10 s.
HttpResponse RawHttpExchange(int port, const std::string& raw);

class HttpClient {
 public:
  explicit HttpClient(int port, std::string host = "127.0.0.1");

  // `token`, if not empty, goes in "Authorization: Bearer <token>".
  HttpResponse Post(const std::string& path, const nlohmann::json& body,
                    const std::string& token = "") const;
  HttpResponse Get(const std::string& path, const std::string& token = "") const;
  HttpResponse Delete(const std::string& path, const std::string& token = "") const;
  // Any method with a body sent as is: for malformed input ("{", wrong content types).
  HttpResponse Send(const std::string& method, const std::string& path, const std::string& body,
                    const std::string& content_type = "application/json",
                    const std::string& token = "", const httplib::Headers& headers = {}) const;

  // Read/write timeout per request; default 10 s. Connect timeout is 2 s.
  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }
  // The local address requests come from, e.g. "127.0.0.2" (on Linux all of 127.0.0.0/8 is
  // local): a client the uplink sees at another address. Default: the kernel's choice.
  void set_source_address(std::string address) { source_address_ = std::move(address); }
  int port() const { return port_; }

 private:
  std::string host_;
  int port_;
  std::chrono::milliseconds timeout_{10000};
  std::string source_address_;
};

// Percent-encodes a string for a URL path segment or query value.
std::string UrlEncode(const std::string& s);

}  // namespace courier::testing
