// BrokerRing: which MQTT broker a user belongs to when several brokers share the devices.
//
// Issue #6 (broker sharding) runs N Mosquitto brokers side by side. All devices of one user must
// meet on one broker, so every user is assigned a broker by a stable hash of user_id:
//   - the uplink's login answer names the user's broker in its `mqtt` block;
//   - the downlink publishes each delivery to the recipient's broker;
//   - the broker plugin can refuse a user that is not assigned to it, with a clear reason.
// This file is the pure building block: parsing a broker list ("host:port,host:port") and the
// assignment. It does no I/O and is not yet wired into the uplink or the downlink.
//
// Why rendezvous (highest random weight) hashing rather than a consistent-hash ring: every
// broker scores every user and the highest score wins. There are no virtual nodes to tune to get
// an even spread, and movement is minimal by construction: adding a broker moves only the users
// whose new highest score is the new broker (about 1/(N+1) of them), and removing one moves only
// the users it had. The cost, one hash per broker per lookup, is nothing for a handful of brokers.
//
// Stability contract: the same broker list (in any order) gives the same assignment in every
// process, on every machine and in every version of Courier. The hash is therefore defined here
// (RendezvousScore) and does not use std::hash, which may differ between builds and standard
// libraries. Changing the hash, or a broker's identity string, is a breaking change for a running
// deployment: it moves users between brokers. tests/unit/broker_ring_test.cpp pins it.
//
// Thread-safety: BrokerAddress is a value. A BrokerRing is immutable after construction, so its
// const methods may be called from any number of threads at once.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace courier {

// One broker, as the processes reach it.
struct BrokerAddress {
  std::string host;  // lower case; an IPv6 address without its brackets ("::1")
  int port = 0;      // 1..65535

  // "host:port", or "[v6]:port" when the host holds a ':'. This is the broker's identity in the
  // rendezvous hash: every process must name a broker by the same string (the parser lowercases
  // host names, but it does not canonicalize IPv6 spellings: "::1" and "0::1" are two brokers).
  std::string ToString() const;

  bool operator==(const BrokerAddress&) const = default;
};

// Parses "host:port" or "[ipv6]:port". A host name is 1-253 characters of [A-Za-z0-9.-_] and is
// lowercased; a bracketed IPv6 address is hex digits, ':' and '.'. The port is 1..65535 in
// decimal. On failure: InvalidField saying what is wrong with which text.
Result<BrokerAddress> ParseBrokerAddress(std::string_view text);

// Parses a comma-separated list ("127.0.0.1:1883, 127.0.0.1:1884"); spaces around each entry are
// ignored. On success the brokers in the order given, at least one. On failure: InvalidField for
// an empty list, an empty entry ("a:1,,b:2", a trailing comma), a malformed address or the same
// broker named twice.
Result<std::vector<BrokerAddress>> ParseBrokerList(std::string_view text);

// The rendezvous score of a user on a broker: splitmix64's finalizer applied to the 64-bit
// FNV-1a hash of the bytes broker_id, one zero byte, user_id. broker_id is
// BrokerAddress::ToString(). Exposed so the contract above is testable; callers use BrokerRing.
uint64_t RendezvousScore(std::string_view broker_id, std::string_view user_id);

// The assignment of users to a fixed set of brokers. Copyable; immutable after construction.
class BrokerRing {
 public:
  // On success a ring over `brokers`. The order of the list does not matter. On failure:
  // InvalidField when the list is empty, an address is invalid (empty host, port out of range)
  // or two entries are the same broker.
  static Result<BrokerRing> Create(std::vector<BrokerAddress> brokers);

  // The broker of `user_id`: the one with the highest RendezvousScore; on an exact tie the one
  // whose ToString() sorts first bytewise. Any string is accepted (validating user ids is the
  // caller's business). The reference lives as long as the ring.
  const BrokerAddress& BrokerFor(std::string_view user_id) const;

  // The brokers, sorted by ToString(). Never empty.
  const std::vector<BrokerAddress>& brokers() const { return brokers_; }

 private:
  explicit BrokerRing(std::vector<BrokerAddress> brokers);

  std::vector<BrokerAddress> brokers_;  // sorted by id
  std::vector<std::string> ids_;        // ids_[i] == brokers_[i].ToString()
};

}  // namespace courier
