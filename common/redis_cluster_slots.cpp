#include "common/redis_cluster_slots.h"

#include <algorithm>
#include <array>
#include <charconv>

namespace courier {

namespace {

// CRC16-XMODEM (CCITT polynomial x^16 + x^12 + x^5 + 1, init 0, MSB first), the checksum the
// Redis Cluster spec names; a 256-entry table built at compile time, one lookup per byte.
constexpr std::array<uint16_t, 256> MakeCrc16Table() {
  std::array<uint16_t, 256> table{};
  for (int byte = 0; byte < 256; ++byte) {
    uint16_t crc = static_cast<uint16_t>(byte << 8);
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                           : static_cast<uint16_t>(crc << 1);
    }
    table[byte] = crc;
  }
  return table;
}

constexpr std::array<uint16_t, 256> kCrc16Table = MakeCrc16Table();

uint16_t Crc16(std::string_view data) {
  uint16_t crc = 0;
  for (unsigned char c : data) {
    crc = static_cast<uint16_t>((crc << 8) ^ kCrc16Table[((crc >> 8) ^ c) & 0xff]);
  }
  return crc;
}

Status Malformed(std::string_view what) {
  return Status::Internal("malformed CLUSTER SLOTS reply: " + std::string(what));
}

bool IsSlot(long long v) { return v >= 0 && v < kClusterSlots; }
bool IsPort(long long v) { return v >= 1 && v <= 65535; }

// A whole string of decimal digits (no sign, no spaces) within [0, max].
std::optional<long long> ParseDecimal(std::string_view s, long long max) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  long long v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < 0 || v > max) return std::nullopt;
  return v;
}

}  // namespace

std::string_view HashTag(std::string_view key) {
  size_t open = key.find('{');
  if (open == std::string_view::npos) return {};
  size_t close = key.find('}', open + 1);
  if (close == std::string_view::npos) return {};
  return key.substr(open + 1, close - open - 1);
}

uint16_t KeySlot(std::string_view key) {
  std::string_view tag = HashTag(key);
  return static_cast<uint16_t>(Crc16(tag.empty() ? key : tag) % kClusterSlots);
}

Result<SlotMap> SlotMap::FromClusterSlots(const RedisValue& reply) {
  if (!reply.is_array()) return Malformed("not an array");
  SlotMap map;
  map.ranges_.reserve(reply.elements.size());
  for (const RedisValue& entry : reply.elements) {
    if (!entry.is_array() || entry.elements.size() < 3) {
      return Malformed("an entry is not [start, end, master, ...]");
    }
    const RedisValue& start = entry.elements[0];
    const RedisValue& end = entry.elements[1];
    if (!start.is_integer() || !end.is_integer()) return Malformed("a slot is not an integer");
    if (!IsSlot(start.integer) || !IsSlot(end.integer)) {
      return Malformed("slot out of range: " + std::to_string(start.integer) + "-" +
                       std::to_string(end.integer));
    }
    if (start.integer > end.integer) {
      return Malformed("start > end: " + std::to_string(start.integer) + "-" +
                       std::to_string(end.integer));
    }
    const RedisValue& master = entry.elements[2];
    if (!master.is_array() || master.elements.size() < 2) {
      return Malformed("a master is not [host, port, ...]");
    }
    const RedisValue& host = master.elements[0];
    const RedisValue& port = master.elements[1];
    // "?" is how Redis 7 announces an unknown endpoint: nothing to connect to.
    if (!host.is_string() || host.str.empty() || host.str == "?") {
      return Malformed("a master has no host");
    }
    if (!port.is_integer() || !IsPort(port.integer)) return Malformed("a master has a bad port");
    map.ranges_.push_back(SlotRange{static_cast<uint16_t>(start.integer),
                                    static_cast<uint16_t>(end.integer), host.str,
                                    static_cast<int>(port.integer)});
  }
  std::sort(map.ranges_.begin(), map.ranges_.end(),
            [](const SlotRange& a, const SlotRange& b) { return a.first < b.first; });
  for (size_t i = 1; i < map.ranges_.size(); ++i) {
    if (map.ranges_[i].first <= map.ranges_[i - 1].last) {
      return Malformed("overlapping ranges at slot " + std::to_string(map.ranges_[i].first));
    }
  }
  return map;
}

const SlotRange* SlotMap::Owner(uint16_t slot) const {
  // The last range whose first <= slot, if it reaches slot.
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), slot,
                             [](uint16_t s, const SlotRange& r) { return s < r.first; });
  if (it == ranges_.begin()) return nullptr;
  --it;
  return slot <= it->last ? &*it : nullptr;
}

bool SlotMap::CoversAll() const {
  // Sorted and disjoint, so covering everything means contiguous from 0 to the last slot.
  int next = 0;
  for (const SlotRange& r : ranges_) {
    if (r.first != next) return false;
    next = r.last + 1;
  }
  return next == kClusterSlots;
}

std::optional<Redirect> ParseRedirect(std::string_view error_text) {
  Redirect r;
  std::string_view rest;
  if (error_text.starts_with("MOVED ")) {
    r.kind = Redirect::Kind::kMoved;
    rest = error_text.substr(6);
  } else if (error_text.starts_with("ASK ")) {
    r.kind = Redirect::Kind::kAsk;
    rest = error_text.substr(4);
  } else {
    return std::nullopt;
  }
  size_t space = rest.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  std::optional<long long> slot = ParseDecimal(rest.substr(0, space), kClusterSlots - 1);
  if (!slot) return std::nullopt;
  std::string_view address = rest.substr(space + 1);
  if (address.find(' ') != std::string_view::npos) return std::nullopt;
  size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::optional<long long> port = ParseDecimal(address.substr(colon + 1), 65535);
  if (!port || !IsPort(*port)) return std::nullopt;
  r.slot = static_cast<uint16_t>(*slot);
  r.host = std::string(address.substr(0, colon));
  r.port = static_cast<int>(*port);
  return r;
}

}  // namespace courier
