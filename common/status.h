// Status and Result<T>: the one error type that crosses module boundaries.
//
// A Status is either OK or carries a Code and a human-readable message. Codes map one-to-one
// onto the error codes of the HTTP API (SPEC §3), so the uplink turns a Status into a reply in
// exactly one place (uplink/api_error.cpp) and every other layer just returns it.
//
// Thread-safety: values; safe to copy between threads.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace courier {

class Status {
 public:
  enum class Code {
    kOk,
    kInvalidJson,       // 400: the body is not JSON, or not the expected shape
    kInvalidField,      // 400: a field is missing, of the wrong type or out of range
    kUnauthorized,      // 401: no, bad, expired or revoked credentials
    kForbidden,         // 403
    kNotMember,         // 403: the caller is not a member of the group or room
    kBlocked,           // 403: the recipient blocked the sender
    kNotFound,          // 404
    kMethodNotAllowed,  // 405: the path exists, the method does not
    kConflict,          // 409
    kTooLarge,          // 413
    kRateLimited,       // 429
    kUnavailable,       // 503: a dependency (Redis, broker) is down; safe to retry
    kInternal,          // 500: a bug; never expected
  };

  Status() = default;  // OK

  static Status Ok() { return Status(); }
  static Status InvalidJson(std::string msg) { return {Code::kInvalidJson, std::move(msg)}; }
  static Status InvalidField(std::string msg) { return {Code::kInvalidField, std::move(msg)}; }
  static Status Unauthorized(std::string msg) { return {Code::kUnauthorized, std::move(msg)}; }
  static Status Forbidden(std::string msg) { return {Code::kForbidden, std::move(msg)}; }
  static Status NotMember(std::string msg) { return {Code::kNotMember, std::move(msg)}; }
  static Status Blocked(std::string msg) { return {Code::kBlocked, std::move(msg)}; }
  static Status NotFound(std::string msg) { return {Code::kNotFound, std::move(msg)}; }
  static Status MethodNotAllowed(std::string msg) {
    return {Code::kMethodNotAllowed, std::move(msg)};
  }
  static Status Conflict(std::string msg) { return {Code::kConflict, std::move(msg)}; }
  static Status TooLarge(std::string msg) { return {Code::kTooLarge, std::move(msg)}; }
  static Status RateLimited(std::string msg, int retry_after_s) {
    Status s(Code::kRateLimited, std::move(msg));
    s.retry_after_s_ = retry_after_s;
    return s;
  }
  static Status Unavailable(std::string msg) { return {Code::kUnavailable, std::move(msg)}; }
  static Status Internal(std::string msg) { return {Code::kInternal, std::move(msg)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // Seconds a rate-limited caller should wait; 0 for other codes.
  int retry_after_s() const { return retry_after_s_; }

  // The snake_case API error code ("invalid_field", "unavailable", ...); "ok" for OK.
  std::string_view code_name() const;
  // "invalid_field: to must be user:<id>" — for logs and test failure messages.
  std::string ToString() const;

 private:
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  Code code_ = Code::kOk;
  std::string message_;
  int retry_after_s_ = 0;
};

// The snake_case name of `code` ("invalid_field", "unavailable", ...), as Status::code_name().
std::string_view CodeName(Status::Code code);

// A value or the Status that explains why there is none. Never holds an OK status.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: REQUIRES: !status.ok()

  bool ok() const { return std::holds_alternative<T>(v_); }
  // REQUIRES: ok()
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  // OK when ok(), the error otherwise.
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace courier
