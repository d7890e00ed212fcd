#include "common/broker_ring.h"

#include <algorithm>
#include <utility>

namespace courier {

namespace {

constexpr size_t kMaxHostLength = 253;  // the longest DNS name

bool IsHostNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_';
}

bool IsIpv6Char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
         c == '.';
}

char ToLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Status BadAddress(std::string_view text, std::string_view why) {
  return Status::InvalidField("broker address '" + std::string(text) + "': " + std::string(why));
}

// 1..65535 in decimal, digits only (no sign, no spaces).
bool ParsePort(std::string_view s, int* port) {
  if (s.empty() || s.size() > 5) return false;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (v < 1 || v > 65535) return false;
  *port = v;
  return true;
}

// FNV-1a, 64 bits (offset basis 14695981039346656037, prime 1099511628211). Fast and fully
// specified, but its low bits mix poorly, hence the finalizer below.
constexpr uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ULL;
constexpr uint64_t kFnvPrime = 0x100000001b3ULL;

uint64_t Fnv1aUpdate(uint64_t h, std::string_view bytes) {
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= kFnvPrime;
  }
  return h;
}

// splitmix64's finalizer (Steele, Lea, Flood 2014): every input bit affects every output bit.
uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

std::string BrokerAddress::ToString() const {
  std::string out;
  if (host.find(':') != std::string::npos) {
    out = "[" + host + "]";
  } else {
    out = host;
  }
  return out + ":" + std::to_string(port);
}

Result<BrokerAddress> ParseBrokerAddress(std::string_view text) {
  std::string_view host;
  std::string_view port;
  bool ipv6 = false;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return BadAddress(text, "missing ']' after IPv6 address");
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') {
      return BadAddress(text, "expected ':port' after ']'");
    }
    port = rest.substr(1);
    ipv6 = true;
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return BadAddress(text, "expected host:port");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return BadAddress(text, "an IPv6 address must be in brackets, as in [::1]:1883");
    }
  }
  if (host.empty()) return BadAddress(text, "empty host");
  if (host.size() > kMaxHostLength) return BadAddress(text, "host longer than 253 characters");
  if (ipv6) {
    if (host.find(':') == std::string_view::npos ||
        !std::all_of(host.begin(), host.end(), IsIpv6Char)) {
      return BadAddress(text, "not an IPv6 address between the brackets");
    }
  } else if (!std::all_of(host.begin(), host.end(), IsHostNameChar)) {
    return BadAddress(text, "host must be characters of [A-Za-z0-9.-_]");
  }
  BrokerAddress address;
  if (!ParsePort(port, &address.port)) return BadAddress(text, "port must be 1..65535");
  address.host.reserve(host.size());
  for (char c : host) address.host.push_back(ToLower(c));
  return address;
}

Result<std::vector<BrokerAddress>> ParseBrokerList(std::string_view text) {
  if (TrimSpaces(text).empty()) return Status::InvalidField("the broker list is empty");
  std::vector<BrokerAddress> brokers;
  while (true) {
    size_t comma = text.find(',');
    std::string_view entry = TrimSpaces(text.substr(0, comma));
    if (entry.empty()) return Status::InvalidField("the broker list has an empty entry");
    Result<BrokerAddress> address = ParseBrokerAddress(entry);
    if (!address.ok()) return address.status();
    if (std::find(brokers.begin(), brokers.end(), *address) != brokers.end()) {
      return Status::InvalidField("broker " + address->ToString() + " is listed twice");
    }
    brokers.push_back(std::move(address).value());
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return brokers;
}

uint64_t RendezvousScore(std::string_view broker_id, std::string_view user_id) {
  uint64_t h = Fnv1aUpdate(kFnvOffsetBasis, broker_id);
  h = Fnv1aUpdate(h, std::string_view("\0", 1));
  h = Fnv1aUpdate(h, user_id);
  return Mix64(h);
}

Result<BrokerRing> BrokerRing::Create(std::vector<BrokerAddress> brokers) {
  if (brokers.empty()) return Status::InvalidField("the broker list is empty");
  std::vector<BrokerAddress> checked;
  checked.reserve(brokers.size());
  for (const BrokerAddress& b : brokers) {
    // Through the parser, so a hand-built address meets the same rules and the same lowercasing.
    Result<BrokerAddress> address = ParseBrokerAddress(b.ToString());
    if (!address.ok()) return address.status();
    checked.push_back(std::move(address).value());
  }
  std::sort(checked.begin(), checked.end(), [](const BrokerAddress& a, const BrokerAddress& b) {
    return a.ToString() < b.ToString();
  });
  auto dup = std::adjacent_find(checked.begin(), checked.end());
  if (dup != checked.end()) {
    return Status::InvalidField("broker " + dup->ToString() + " is listed twice");
  }
  return BrokerRing(std::move(checked));
}

BrokerRing::BrokerRing(std::vector<BrokerAddress> brokers) : brokers_(std::move(brokers)) {
  ids_.reserve(brokers_.size());
  for (const BrokerAddress& b : brokers_) ids_.push_back(b.ToString());
}

const BrokerAddress& BrokerRing::BrokerFor(std::string_view user_id) const {
  size_t best = 0;
  uint64_t best_score = RendezvousScore(ids_[0], user_id);
  for (size_t i = 1; i < ids_.size(); ++i) {
    uint64_t score = RendezvousScore(ids_[i], user_id);
    // Strictly greater: on a tie the earlier, i.e. bytewise smaller, id keeps the user.
    if (score > best_score) {
      best = i;
      best_score = score;
    }
  }
  return brokers_[best];
}

}  // namespace courier
