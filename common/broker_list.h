// BrokerList: the MQTT brokers of a deployment, each with the address the servers reach it at
// (its identity in the BrokerRing) and the address devices are told, and which broker a user
// belongs to. ReloadableBrokerList holds the current list for a running process, so that a
// broker can be added without a restart (docs/operations.md, "Several brokers").
//
// Where the list comes from (MqttConfig, highest priority first):
//   1. --mqtt-brokers-file: one broker per line, "<internal host:port> [<public host:port>]"
//      ('#' starts a comment; the public address defaults to the internal one). The only
//      source that is read again on SIGHUP.
//   2. --mqtt-brokers "a:1883,b:1883" with --mqtt-public-brokers in the same order (default:
//      the internal addresses).
//   3. --mqtt-host/--mqtt-port with --mqtt-public-host/--mqtt-public-port: a list of one broker,
//      as before sharding. A clustered broker (EMQX, VerneMQ, HiveMQ) is configured this way too:
//      one address, its load balancer's.
//
// Thread-safety: BrokerEntry and BrokerList are values, immutable after construction.
// ReloadableBrokerList is thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/broker_ring.h"
#include "common/config.h"
#include "common/status.h"

namespace courier {

struct BrokerEntry {
  BrokerAddress internal;    // the ring's identity; where the downlink publishes
  BrokerAddress advertised;  // what the login answer and GET /v1/mqtt tell devices

  bool operator==(const BrokerEntry&) const = default;
};

class BrokerList {
 public:
  // On success the list, in the order given. InvalidField when it is empty, an address is
  // invalid, or two entries share an internal or a public address.
  static Result<BrokerList> Create(std::vector<BrokerEntry> entries);

  // The broker of `user_id` (BrokerRing::BrokerFor over the internal addresses). The reference
  // lives as long as the list.
  const BrokerEntry& For(std::string_view user_id) const;
  // The entry whose internal address is `internal`; nullptr if none.
  const BrokerEntry* Find(const BrokerAddress& internal) const;
  // In the configured order. Never empty.
  const std::vector<BrokerEntry>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  // "a:1883, b:1883 (public x:1883)" for logs.
  std::string ToString() const;

  bool operator==(const BrokerList& other) const { return entries_ == other.entries_; }

 private:
  BrokerList(BrokerRing ring, std::vector<BrokerEntry> entries)
      : ring_(std::move(ring)), entries_(std::move(entries)) {}

  BrokerRing ring_;
  std::vector<BrokerEntry> entries_;
};

// The entries of a brokers file's text (format above). InvalidField naming the line on a
// malformed line, three or more addresses on a line, or no broker at all.
Result<std::vector<BrokerEntry>> ParseBrokerFile(std::string_view text);

// The list `mqtt` configures (sources above); the file is read when one is named.
// InvalidField saying what is wrong: an unreadable file (over 1 MiB counts), a malformed entry,
// public and internal lists of different lengths, a duplicate.
Result<BrokerList> LoadBrokerList(const MqttConfig& mqtt);

// The current broker list of a running process, replaced by Reload(). Readers take a snapshot
// (Current()) and keep using it for one decision; a reload never changes a snapshot in use.
class ReloadableBrokerList {
 public:
  ReloadableBrokerList(MqttConfig mqtt, BrokerList initial);

  std::shared_ptr<const BrokerList> Current() const;
  // Counts replacements: a reader compares it with the one it saw to notice a new list cheaply.
  uint64_t version() const;

  // Reads the configured list again (the file; the flags cannot change). On success true when
  // the list changed (then Current() returns the new one), false when it is the same. On
  // failure the previous list stays and the error says why.
  Result<bool> Reload();

 private:
  const MqttConfig mqtt_;
  mutable std::mutex mu_;
  std::shared_ptr<const BrokerList> current_;  // GUARDED_BY(mu_)
  uint64_t version_ = 0;                       // GUARDED_BY(mu_)
};

}  // namespace courier
