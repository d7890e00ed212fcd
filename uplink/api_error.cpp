#include <nlohmann/json.hpp>

#include "uplink/api.h"

namespace courier {

int HttpStatusOf(Status::Code code) {
  using C = Status::Code;
  switch (code) {
    case C::kOk:
      return 200;
    case C::kInvalidJson:
    case C::kInvalidField:
      return 400;
    case C::kUnauthorized:
      return 401;
    case C::kForbidden:
    case C::kNotMember:
    case C::kBlocked:
      return 403;
    case C::kNotFound:
      return 404;
    case C::kMethodNotAllowed:
      return 405;
    case C::kConflict:
      return 409;
    case C::kTooLarge:
      return 413;
    case C::kRateLimited:
      return 429;
    case C::kUnavailable:
      return 503;
    case C::kInternal:
      return 500;
  }
  return 500;
}

ApiResponse ErrorResponse(const Status& status) {
  ApiResponse r;
  r.status = HttpStatusOf(status.code());
  nlohmann::json body = {{"error", {{"code", status.code_name()}, {"message", status.message()}}}};
  // Messages may quote client input: never let bad UTF-8 in it break the reply.
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (status.code() == Status::Code::kRateLimited) {
    r.headers["Retry-After"] = std::to_string(std::max(1, status.retry_after_s()));
  } else if (status.code() == Status::Code::kUnavailable) {
    r.headers["Retry-After"] = "1";
  }
  if (status.code() == Status::Code::kUnauthorized) {
    r.headers["WWW-Authenticate"] = "Bearer";
  }
  return r;
}

ApiResponse JsonResponse(int status, std::string body) {
  ApiResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

ApiResponse NoContent() {
  ApiResponse r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

}  // namespace courier
