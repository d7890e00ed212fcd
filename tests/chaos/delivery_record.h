// What a chaos device delivered: one Delivery per inbox entry the SDK handed to the app
// (on_message and on_notification), kept in memory for the devices of the chaos process and as
// one text line each in a file for the devices of the separate client process.
//
// Thread-safety: Delivery and the free functions are values and pure; DeliveryLog is
// thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace courier::chaos {

// One delivered inbox entry.
struct Delivery {
  int64_t seq = 0;
  std::string type;      // "message" or "notification"
  std::string id;        // a message's id; for a notification, NotificationKey()
  std::string conv;      // "u:a:b" or "g:<gid>"; a group notification's "g:<data.group_id>"
  int64_t conv_seq = 0;  // messages only
  std::string event;     // notifications only: "group.member_added", ...
  std::string subject;   // notifications only: data.user_id (data.owner for group.created)

  bool is_message() const { return type == "message"; }
  bool operator==(const Delivery&) const = default;
};

// A notification has no id, but its envelope (after seq and epoch) is the same bytes in every
// inbox it was copied into: "n:<event>:<gid>:<subject>:<ts>" names it across inboxes. Unique as
// long as one user's membership of one group does not change twice with one event in one
// millisecond, which the chaos run's membership threads never do.
std::string NotificationKey(const std::string& event, const std::string& group_id,
                            const std::string& subject, int64_t ts);

// The Delivery of an inbox envelope as the SDK delivers it (SPEC §4).
Delivery DeliveryOf(const nlohmann::json& envelope);

// One line without the newline: "seq type id conv conv_seq event subject", "-" for an empty
// field (no field holds a space: ids are [A-Za-z0-9_.-], event names and ids have no spaces).
std::string EncodeDelivery(const Delivery& d);
// The Delivery of such a line; nullopt for a malformed (e.g. cut off) line.
std::optional<Delivery> DecodeDelivery(const std::string& line);
// Every line of a file, in order; malformed lines are skipped. Empty if there is no file.
std::vector<Delivery> ReadDeliveryFile(const std::string& path);

// The deliveries of every user's device, in delivery order.
using DeliveriesByUser = std::map<std::string, std::vector<Delivery>>;

// Deliveries of the chaos process's devices. Thread-safe.
class DeliveryLog {
 public:
  void Add(const std::string& user, Delivery d);
  DeliveriesByUser Snapshot() const;

 private:
  mutable std::mutex mu_;
  DeliveriesByUser by_user_;  // GUARDED_BY(mu_)
};

}  // namespace courier::chaos
