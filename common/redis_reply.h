// Reading the replies of Courier's Lua scripts (common/lua/): the first element names the
// outcome ("ok", "dup", or an error such as "not_found"), the rest carry values.
// Internal to the Redis stores. Pure functions; thread-safe.
#pragma once

#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "common/message_store.h"
#include "common/redis_client.h"
#include "common/status.h"

namespace courier::redis_reply {

// The first element of a script's reply, or empty when the reply has another shape.
inline std::string_view Verdict(const RedisValue& v) {
  if (!v.is_array() || v.elements.empty() || !v.elements[0].is_string()) return {};
  return v.elements[0].str;
}

inline Status Malformed(std::string_view script) {
  return Status::Internal("unexpected reply from script " + std::string(script));
}

inline int64_t Int(const RedisValue& v) {
  if (v.is_integer()) return v.integer;
  if (v.is_string()) return std::strtoll(v.str.c_str(), nullptr, 10);
  return 0;
}

// Internal naming `what` if any reply (of a command or a pipeline) is an error, else OK.
inline Status NoErrorReply(const std::vector<RedisValue>& replies, std::string_view what) {
  for (const RedisValue& v : replies) {
    if (v.type == RedisValue::Type::kError) {
      return Status::Internal("redis " + std::string(what) + ": " + v.str);
    }
  }
  return Status::Ok();
}

// The Status of a script's error verdict; `not_found` says what was not found.
inline Status VerdictStatus(std::string_view verdict, std::string_view script,
                            const std::string& not_found) {
  if (verdict == "unauthorized") return Status::Unauthorized("session ended");
  if (verdict == "not_found") return Status::NotFound(not_found);
  if (verdict == "not_member") return Status::NotMember("not a member of this conversation");
  if (verdict == "blocked") return Status::Blocked("the recipient does not accept your messages");
  if (verdict == "not_friends") {
    return Status::Forbidden("only friends can message each other here (messaging policy)");
  }
  if (verdict == "forbidden") return Status::Forbidden("only the group's owner may do that");
  return Malformed(script);
}

// The reply of a send script: {"ok"|"dup", id, conv, conv_seq, ts}, {"rate_limited", ms} or
// an error verdict.
inline Result<SendOutcome> SendOutcomeOf(const RedisValue& r, std::string_view script,
                                         const std::string& not_found) {
  auto verdict = Verdict(r);
  if (verdict == "ok" || verdict == "dup") {
    if (r.elements.size() < 5) return Malformed(script);
    return SendOutcome{r.elements[1].str, r.elements[2].str, Int(r.elements[3]), Int(r.elements[4]),
                       verdict == "dup"};
  }
  if (verdict == "rate_limited" && r.elements.size() >= 2) {
    int retry_s = static_cast<int>((Int(r.elements[1]) + 999) / 1000);
    return Status::RateLimited("too many messages; slow down", retry_s < 1 ? 1 : retry_s);
  }
  return VerdictStatus(verdict, script, not_found);
}

// Extra lifetime of a message's recall index beyond the recall window, so a recall that
// arrives right at the window's end still finds the message and is refused with a reason.
inline constexpr int64_t kMessageIndexGraceMs = 60000;

}  // namespace courier::redis_reply
