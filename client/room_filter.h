// RoomSeqFilter: which room messages the SDK hands to the app (SPEC §4). Room messages are not
// in the inbox and have no seq; each carries its room's room_seq. After a reconnect the broker
// may deliver a QoS 1 message again, so a message whose room_seq is not above the last one
// delivered for its room is a repeat and is dropped; all others are delivered in arrival order
// (a lower room_seq arriving late after a higher one is dropped too: rooms promise no gap
// repair, only no repeats).
//
// Thread-safety: not thread-safe; the client uses it from its event thread only.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace courier::client {

class RoomSeqFilter {
 public:
  // True if the message with this room_seq is to be delivered; it becomes the room's last.
  // REQUIRES: room_seq >= 1 (RoomSeqOf answers -1 for a malformed one: do not ask).
  bool Admit(const std::string& room_id, int64_t room_seq);
  // The last room_seq delivered for the room; 0 if none.
  int64_t last(const std::string& room_id) const;

 private:
  std::map<std::string, int64_t> last_;  // room id -> last delivered room_seq
};

// The room_seq of a room envelope, or -1 if it has none or it is not a positive integer.
int64_t RoomSeqOf(const nlohmann::json& envelope);

}  // namespace courier::client
