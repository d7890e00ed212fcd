#include "common/status.h"

namespace courier {

std::string_view Status::code_name() const { return CodeName(code_); }

std::string_view CodeName(Status::Code code) {
  switch (code) {
    case Status::Code::kOk:
      return "ok";
    case Status::Code::kInvalidJson:
      return "invalid_json";
    case Status::Code::kInvalidField:
      return "invalid_field";
    case Status::Code::kUnauthorized:
      return "unauthorized";
    case Status::Code::kForbidden:
      return "forbidden";
    case Status::Code::kNotMember:
      return "not_member";
    case Status::Code::kBlocked:
      return "blocked";
    case Status::Code::kNotFound:
      return "not_found";
    case Status::Code::kMethodNotAllowed:
      return "method_not_allowed";
    case Status::Code::kConflict:
      return "conflict";
    case Status::Code::kTooLarge:
      return "too_large";
    case Status::Code::kRateLimited:
      return "rate_limited";
    case Status::Code::kUnavailable:
      return "unavailable";
    case Status::Code::kInternal:
      return "internal";
  }
  return "internal";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return std::string(code_name()) + ": " + message_;
}

}  // namespace courier
