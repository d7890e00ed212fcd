// Logging: spdlog, one line per event with level and context, e.g.
//   2026-12-04T20:48:32.123 info  [uplink] req=9f86d081884c7d65 send from=alice to=user:bob
// or, with --log-format json, one JSON object a line:
//   {"ts":"2026-12-04T20:48:32.123","level":"info","process":"uplink",
//    "req":"9f86d081884c7d65","msg":"send from=alice to=user:bob"}
// `req` is the request id of the work the logging thread is doing (LogRequestScope): the
// uplink's HTTP request, or the downlink's delivery of a message that request sent; lines
// logged outside such work have none. Never log a password, token or secret.
#pragma once

#include <spdlog/spdlog.h>

#include <string>
#include <string_view>

namespace courier {

// Sets the default logger's format ("text" or "json"; anything else is text), process name and
// level ("trace" … "error"; an unknown level is "info"). Call once from main() before starting
// threads.
void InitLogging(const std::string& process, const std::string& level,
                 const std::string& format = "text");

// The request id shown in the calling thread's log lines while the scope lives (empty: none).
// Scopes nest: the destructor restores the id that was current before. Not copyable; create
// and destroy it on the same thread.
class LogRequestScope {
 public:
  explicit LogRequestScope(std::string_view request_id);
  ~LogRequestScope();
  LogRequestScope(const LogRequestScope&) = delete;
  LogRequestScope& operator=(const LogRequestScope&) = delete;

 private:
  std::string previous_;
};

// The calling thread's current request id ("" outside a LogRequestScope).
const std::string& CurrentLogRequestId();

// `text` escaped for the inside of a JSON string (quotes, backslashes, control characters).
std::string JsonEscape(std::string_view text);

}  // namespace courier
