// What the broker allows (SPEC §4): who may connect, and which topics a connected client may
// subscribe to, publish to and receive. Pure decisions on strings; the Mosquitto plugin
// (plugin.cpp) feeds them the broker's events and does the Redis part of a connect.
//
// Topics, for the default root "courier":
//   courier/u/<user_id>              the user's inbox
//   courier/d/<user_id>/<device_id>  control for one device
//   courier/r/<room_id>              a chat room, for the members of the room
//
// A room subscription is the one decision the policy can't take alone: it depends on the room's
// member set in Redis. CheckSubscribe says which room to ask about; the plugin asks, and
// remembers the rooms each connection may read (a RoomSet), which CheckRead then consults for
// every room message the broker delivers.
//
// Thread-safety: AccessPolicy is immutable after construction; safe to share between threads.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <string_view>

#include "common/jwt.h"
#include "common/status.h"

namespace courier::broker {

inline constexpr int kMaxDeviceKeepaliveS = 60;

struct PolicyConfig {
  std::string topic_root = "courier";            // REQUIRES: IsValidTopicRoot
  std::string service_user = "courier-service";  // the downlink's broker account
};

// A non-empty topic prefix without wildcards, NUL, or a leading or trailing '/'.
bool IsValidTopicRoot(std::string_view root);

// Who an authenticated client is. Devices are bound to one user, device and session; the
// service account (the downlink) publishes to everybody's topics and sends control commands.
struct ClientIdentity {
  enum class Kind { kDevice, kService };
  Kind kind = Kind::kDevice;
  std::string client_id;
  std::string user_id;     // for the service account: the configured service user
  std::string device_id;   // devices only
  std::string session_id;  // devices only
  // The token's `exp` (seconds since the Unix epoch); devices only. The broker drops a device's
  // connection once it has passed (BrokerAuthPlugin::DropExpired), as the uplink refuses the token
  // from then on; the service account's connection is never dropped for it.
  int64_t expires_at_s = 0;

  bool is_service() const { return kind == Kind::kService; }
  bool operator==(const ClientIdentity&) const = default;
};

// "<user_id>:<device_id>", the MQTT client id of a device.
std::string DeviceClientId(std::string_view user_id, std::string_view device_id);
// Splits a device client id; false unless both halves are valid ids (common/ids.h).
bool ParseDeviceClientId(std::string_view client_id, std::string* user_id, std::string* device_id);

// The chat rooms one connection may receive messages of. std::less<> lets CheckRead look a room
// up by string_view, so the check asked for every delivered message never allocates.
using RoomSet = std::set<std::string, std::less<>>;

// The answer to an ACL question. `reason` is a static string for the log; empty when allowed.
struct AclDecision {
  bool allowed = false;
  std::string_view reason;
  // Set by CheckSubscribe for a device's subscription to a room topic: the room id (a view into
  // the topic filter passed in). The subscription is allowed only if the device's user is a
  // member of that room, which the caller must ask Redis; until it does, `allowed` is false.
  std::string_view room_id;

  bool needs_room_membership() const { return !room_id.empty(); }

  static AclDecision Allow() { return {true, {}, {}}; }
  static AclDecision Deny(std::string_view why) { return {false, why, {}}; }
  static AclDecision IfRoomMember(std::string_view room_id) {
    return {false, "the user is not a member of the room", room_id};
  }
};

class AccessPolicy {
 public:
  AccessPolicy(PolicyConfig config, JwtCodec codec);

  // Decides a CONNECT from everything but Redis. `password` is the JWT; absent MQTT fields are
  // passed as empty strings. On success the identity of the client; for a device the caller
  // must still check that its session lives (Redis keys::Session) before letting it in.
  // Unauthorized with a reason for the log otherwise (never the token itself). Never throws.
  Result<ClientIdentity> Authenticate(std::string_view client_id, std::string_view username,
                                      std::string_view password, int64_t now_s) const;

  // SPEC §4: a device connects with a clean session and a keepalive of 1-60 s, so that a lost
  // connection is noticed in time (its online state depends on it) and the broker keeps no
  // queue for it (the inbox in Redis is the record). OK, or Unauthorized saying which.
  static Status CheckDeviceConnection(int keepalive_s, bool clean_session);

  // SUBSCRIBE to `topic_filter`: a device to exactly its inbox and its device topic (allowed),
  // or to exactly one room topic (IfRoomMember: the caller decides by the room's member set);
  // nothing else (no wildcards, no $share, no other users' topics). The service account to
  // anything.
  AclDecision CheckSubscribe(const ClientIdentity& who, std::string_view topic_filter) const;
  // PUBLISH to `topic`: the service account only; devices never publish.
  AclDecision CheckPublish(const ClientIdentity& who, std::string_view topic) const;
  // Delivery of a message on `topic` to the client: a device on its inbox and device topic, and
  // on the topic of a room in `readable_rooms` (the rooms this connection subscribed to as a
  // member and has not left since). Allocation-free: the broker asks for every message it
  // delivers.
  AclDecision CheckRead(const ClientIdentity& who, std::string_view topic,
                        const RoomSet& readable_rooms) const;
  // The same for a connection that may read no room.
  AclDecision CheckRead(const ClientIdentity& who, std::string_view topic) const;

  // The room id of `topic` when it is exactly "<root>/r/<room_id>" with a valid room id
  // (common/ids.h); empty otherwise (wildcards included). A view into `topic`.
  std::string_view RoomOfTopic(std::string_view topic) const;

  // "<root>/u/<user_id>", "<root>/d/<user_id>/<device_id>" and "<root>/r/<room_id>".
  std::string InboxTopic(std::string_view user_id) const;
  std::string DeviceTopic(std::string_view user_id, std::string_view device_id) const;
  std::string RoomTopic(std::string_view room_id) const;

  const PolicyConfig& config() const { return config_; }

 private:
  bool IsOwnTopic(const ClientIdentity& who, std::string_view topic) const;

  PolicyConfig config_;
  JwtCodec codec_;
};

}  // namespace courier::broker
