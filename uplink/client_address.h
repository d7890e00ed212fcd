// Whose per-address rate buckets a request counts against (common/rate_limiter.h).
//
// Pure function; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace courier {

// The owner of the per-address buckets of a client at `remote_addr` (the peer address of its
// TCP connection, as the HTTP server gives it):
//  - an IPv4 address, as is ("192.0.2.7");
//  - an IPv6 address by its /64 prefix ("2001:db8:1:2::/64"): one subscriber or host usually
//    holds a whole /64, so counting single IPv6 addresses would count nothing;
//  - an IPv4-mapped IPv6 address ("::ffff:192.0.2.7") as its IPv4 address;
//  - anything else (empty, unparsable) as "unknown", one bucket shared by all such clients.
// The result is safe inside a Redis hash tag (no braces).
std::string ClientAddressOwner(std::string_view remote_addr);

}  // namespace courier
