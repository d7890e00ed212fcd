// ApiSession: one keep-alive HTTP connection to the uplink, as a benchmark client uses it —
// register, log in, send, sync, create a group. Answers are taken apart with the SDK's codec
// (client/api_codec.h), so the bench reads the API exactly as the apps do.
//
// Thread-safety: not thread-safe; one per sender thread.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "client/api_codec.h"
#include "client/api_types.h"
#include "common/status.h"

namespace httplib {
class Client;
}

namespace courier::bench {

class ApiSession {
 public:
  // REQUIRES: `base` came from client::ParseBaseUrl.
  explicit ApiSession(const client::BaseUrl& base, int timeout_s = 10);
  ~ApiSession();
  ApiSession(const ApiSession&) = delete;
  ApiSession& operator=(const ApiSession&) = delete;

  // One request; status 0 when there was no answer (the error says why).
  client::HttpAnswer Call(const std::string& method, const std::string& path,
                          const std::string& body, const std::string& token);

  // 201, or 409 (the user exists: a rerun with the same names) count as success.
  Status Register(const std::string& user_id, const std::string& password);
  Result<client::LoginInfo> Login(const std::string& user_id, const std::string& password,
                                  const std::string& device_id);
  // POST /v1/messages, retried with the same cmid while the answer says it may be retried
  // (no answer, 5xx, 429), up to `attempts` times. OK with the stored message's fields.
  Result<client::SendResult> Send(const std::string& token, const std::string& to,
                                  const std::string& cmid, const nlohmann::json& body,
                                  int attempts = 5);
  // GET /v1/sync: the whole answer {epoch, items, next_after, has_more}.
  Result<nlohmann::json> Sync(const std::string& token, int64_t after, int limit);
  Status CreateGroup(const std::string& token, const std::string& group_id,
                     const std::vector<std::string>& members);

 private:
  client::BaseUrl base_;
  std::unique_ptr<httplib::Client> http_;
};

}  // namespace courier::bench
