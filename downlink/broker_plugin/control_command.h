// Commands the service account sends to the broker on the MQTT topic kControlTopic, as JSON:
//
//   {"op": "kick", "client_id": "alice:phone", "session_id": "s1"}
//     drops that device's connection now; with "session_id" (optional) only if the connection
//     runs on that session, so that a device that already logged in again keeps its new
//     connection. A kick follows the end of a session (SPEC §3 single sign-on, logout): the
//     uplink deletes the session key, so the device cannot connect again, and the downlink
//     relays the kick.
//
//   {"op": "room_leave", "user_id": "alice", "room_id": "lobby"}
//     the user left the room: none of the user's connections on this broker receives the room's
//     messages from now on, although their subscriptions stay open (SPEC §3 rooms). The uplink
//     has already removed the user from the room's member set, so a new subscription is refused
//     too. The downlink relays it from the room's delivery shard, so it arrives before any room
//     message sent after the leave.
//
// Only the service account may send them (the plugin checks).
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "downlink/broker_plugin/access_policy.h"

namespace courier::broker {

// Mosquitto hands PUBLISHes to "$CONTROL/..." topics to the plugin that registered the topic
// and never delivers them to subscribers.
inline constexpr std::string_view kControlTopic = "$CONTROL/courier/v1";

struct ControlCommand {
  enum class Op { kKick, kRoomLeave };
  Op op = Op::kKick;
  std::string client_id;   // kKick: a device client id "<user_id>:<device_id>"
  std::string session_id;  // kKick: empty for whatever session the connection runs on
  std::string user_id;     // kRoomLeave: who left
  std::string room_id;     // kRoomLeave: which room

  bool operator==(const ControlCommand&) const = default;
};

// Parses a control payload; unknown fields are ignored. InvalidJson when it is not a JSON object
// (or above 4 KiB), InvalidField for an unknown op; for a kick, a client_id that is not a device
// client id or a session_id that is not a valid id; for a room_leave, a user_id or room_id that
// is missing or not a valid id (common/ids.h). Never throws.
Result<ControlCommand> ParseControlCommand(std::string_view payload);

enum class KickDecision {
  kKick,          // drop the connection
  kNotConnected,  // nobody holds the client id here
  kOtherSession,  // the connection runs on another session than the command names
};

// What a kick does to `current`, the connection that now holds the command's client id
// (nullptr if none).
KickDecision DecideKick(const ControlCommand& command, const ClientIdentity* current);

}  // namespace courier::broker
