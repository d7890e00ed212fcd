#include "client/api_client.h"

#include <httplib.h>
#include <pthread.h>
#include <signal.h>

#include <nlohmann/json.hpp>

namespace courier::client {

namespace {

using nlohmann::json;

// Blocks SIGPIPE in this thread for one request and swallows a SIGPIPE the request raised
// (a write to a socket the server closed is a thread-directed signal, so it waits here).
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    blocked_here_ = pthread_sigmask(SIG_BLOCK, &pipe_, &old_) == 0 && !sigismember(&old_, SIGPIPE);
  }
  ~ScopedSigpipeBlock() {
    if (!blocked_here_) return;  // the caller had it blocked: leave everything as it was
    sigset_t pending;
    sigpending(&pending);
    if (!was_pending_ && sigismember(&pending, SIGPIPE) == 1) {
      const timespec no_wait{0, 0};
      sigtimedwait(&pipe_, nullptr, &no_wait);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

 private:
  sigset_t pipe_;
  sigset_t old_;
  bool was_pending_ = false;
  bool blocked_here_ = false;
};

// Compact JSON of a request we build; strings that are not UTF-8 are replaced, not thrown on.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

ApiClient::ApiClient(BaseUrl base, std::chrono::milliseconds timeout)
    : base_(std::move(base)), timeout_(timeout) {}

HttpAnswer ApiClient::Request(const std::string& method, const std::string& path_and_query,
                              const std::string& body, const std::string& token,
                              std::chrono::milliseconds timeout) const {
  if (timeout.count() <= 0) timeout = timeout_;
  httplib::Client http(base_.host, base_.port);
  http.set_keep_alive(false);
  http.set_tcp_nodelay(true);
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(timeout);
  const auto usecs = std::chrono::duration_cast<std::chrono::microseconds>(timeout - secs);
  http.set_connection_timeout(secs.count(), usecs.count());
  http.set_read_timeout(secs.count(), usecs.count());
  http.set_write_timeout(secs.count(), usecs.count());

  httplib::Request req;
  req.method = method;
  req.path = base_.path_prefix + path_and_query;
  req.headers.emplace("Accept", "application/json");
  if (!token.empty()) req.headers.emplace("Authorization", "Bearer " + token);
  if (!body.empty()) {
    req.body = body;
    req.headers.emplace("Content-Type", "application/json");
  }

  HttpAnswer answer;
  ScopedSigpipeBlock no_sigpipe;
  httplib::Result res = http.send(req);
  if (!res) {
    answer.error = httplib::to_string(res.error()) + " (" + base_.host + ":" +
                   std::to_string(base_.port) + ")";
    return answer;
  }
  answer.status = res->status;
  answer.body = std::move(res->body);
  answer.retry_after = res->get_header_value("Retry-After");
  return answer;
}

Status ApiClient::Register(const std::string& user_id, const std::string& password,
                           const std::string& display_name) const {
  json body = {{"user_id", user_id}, {"password", password}};
  if (!display_name.empty()) body["display_name"] = display_name;
  HttpAnswer a = Request("POST", "/v1/users", Dump(body));
  if (a.status == 201) return Status::Ok();
  return StatusFromAnswer(a);
}

Result<LoginInfo> ApiClient::Login(const std::string& user_id, const std::string& password,
                                   const std::string& device_id,
                                   const std::string& platform) const {
  json body = {{"user_id", user_id}, {"password", password}, {"device_id", device_id}};
  if (!platform.empty()) body["platform"] = platform;
  HttpAnswer a = Request("POST", "/v1/sessions", Dump(body));
  if (a.status != 200) return StatusFromAnswer(a);
  return ParseLoginAnswer(a.body);
}

Status ApiClient::Logout(const std::string& token) const {
  HttpAnswer a = Request("DELETE", "/v1/sessions/current", "", token);
  if (a.status == 204) return Status::Ok();
  return StatusFromAnswer(a);
}

Result<SyncPage> ApiClient::Sync(const std::string& token, int64_t after, int limit) const {
  HttpAnswer a =
      Request("GET", "/v1/sync?after=" + std::to_string(after) + "&limit=" + std::to_string(limit),
              "", token);
  if (a.status != 200) return StatusFromAnswer(a);
  return ParseSyncPage(a.body);
}

Result<AckAnswer> ApiClient::Ack(const std::string& token, int64_t seq) const {
  HttpAnswer a = Request("POST", "/v1/acks", Dump(json{{"seq", seq}}), token);
  if (a.status != 200) return StatusFromAnswer(a);
  return ParseAckAnswer(a.body);
}

}  // namespace courier::client
