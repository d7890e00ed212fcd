#include "uplink/client_address.h"

#include <arpa/inet.h>

#include <cstring>

namespace courier {

std::string ClientAddressOwner(std::string_view remote_addr) {
  // inet_pton wants a NUL-terminated string; an IPv6 literal is at most 45 characters.
  char text[INET6_ADDRSTRLEN + 1] = {};
  if (remote_addr.empty() || remote_addr.size() >= sizeof text) return "unknown";
  std::memcpy(text, remote_addr.data(), remote_addr.size());

  unsigned char v4[4];
  if (inet_pton(AF_INET, text, v4) == 1) {
    char out[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, v4, out, sizeof out);  // canonical form
    return out;
  }
  unsigned char v6[16];
  if (inet_pton(AF_INET6, text, v6) != 1) return "unknown";
  static const unsigned char kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(v6, kMappedPrefix, sizeof kMappedPrefix) == 0) {
    char out[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, v6 + 12, out, sizeof out);
    return out;
  }
  std::memset(v6 + 8, 0, 8);
  char out[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, v6, out, sizeof out);
  return std::string(out) + "/64";
}

}  // namespace courier
