// Request ids: what ties the log lines about one request together, in the uplink and in the
// downlink that delivers the message it sent (docs/operations.md, "Logs and request ids").
// A client or proxy may name its request with an X-Request-Id header; an id that is not sane
// is replaced, not refused, since the request itself is fine.
//
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace courier {

// The longest X-Request-Id kept.
constexpr size_t kMaxRequestIdLength = 64;

// True for 1..kMaxRequestIdLength characters of A-Z a-z 0-9 '-' '_' '.' ':' — a UUID, a ULID,
// a proxy's id — and nothing that could forge a log line, a JSON field or a header.
bool IsSaneRequestId(std::string_view id);

// A new id: 16 hex characters (64 random bits; unique enough to find a request's lines, not a
// secret).
std::string NewRequestId();

// The id of a request whose X-Request-Id header is `header` ("" when absent): the header when it
// is sane, else a new id.
std::string RequestIdFor(std::string_view header);

}  // namespace courier
