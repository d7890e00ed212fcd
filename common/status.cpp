#include "common/status.h"

namespace courier {

std::string_view Status::code_name() const {
  switch (code_) {
    case Code::kOk:
      return "ok";
    case Code::kInvalidJson:
      return "invalid_json";
    case Code::kInvalidField:
      return "invalid_field";
    case Code::kUnauthorized:
      return "unauthorized";
    case Code::kForbidden:
      return "forbidden";
    case Code::kNotMember:
      return "not_member";
    case Code::kBlocked:
      return "blocked";
    case Code::kNotFound:
      return "not_found";
    case Code::kMethodNotAllowed:
      return "method_not_allowed";
    case Code::kConflict:
      return "conflict";
    case Code::kTooLarge:
      return "too_large";
    case Code::kRateLimited:
      return "rate_limited";
    case Code::kUnavailable:
      return "unavailable";
    case Code::kInternal:
      return "internal";
  }
  return "internal";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return std::string(code_name()) + ": " + message_;
}

}  // namespace courier
