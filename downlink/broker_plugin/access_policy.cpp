#include "downlink/broker_plugin/access_policy.h"

#include <initializer_list>
#include <optional>
#include <utility>

#include "common/ids.h"

namespace courier::broker {

namespace {

constexpr std::string_view kServiceRole = "service";

// If `s` begins with the concatenation of `parts`, the rest of `s`; nullopt otherwise. Compares
// piece by piece so that the ACL checks, asked for every delivered message, never allocate.
std::optional<std::string_view> AfterPrefix(std::string_view s,
                                            std::initializer_list<std::string_view> parts) {
  for (std::string_view part : parts) {
    if (s.substr(0, part.size()) != part) return std::nullopt;
    s.remove_prefix(part.size());
  }
  return s;
}

bool IsConcatenation(std::string_view s, std::initializer_list<std::string_view> parts) {
  std::optional<std::string_view> rest = AfterPrefix(s, parts);
  return rest.has_value() && rest->empty();
}

bool HasWildcard(std::string_view filter) {
  return filter.find_first_of("+#") != std::string_view::npos;
}

}  // namespace

bool IsValidTopicRoot(std::string_view root) {
  if (root.empty() || root.front() == '/' || root.back() == '/') return false;
  return root.find_first_of(std::string_view("+#\0", 3)) == std::string_view::npos;
}

std::string DeviceClientId(std::string_view user_id, std::string_view device_id) {
  std::string id;
  id.reserve(user_id.size() + 1 + device_id.size());
  id.append(user_id).append(":").append(device_id);
  return id;
}

bool ParseDeviceClientId(std::string_view client_id, std::string* user_id, std::string* device_id) {
  size_t colon = client_id.find(':');
  if (colon == std::string_view::npos) return false;
  std::string_view user = client_id.substr(0, colon);
  std::string_view device = client_id.substr(colon + 1);
  if (!IsValidId(user) || !IsValidId(device)) return false;
  user_id->assign(user);
  device_id->assign(device);
  return true;
}

AccessPolicy::AccessPolicy(PolicyConfig config, JwtCodec codec)
    : config_(std::move(config)), codec_(std::move(codec)) {}

Result<ClientIdentity> AccessPolicy::Authenticate(std::string_view client_id,
                                                  std::string_view username,
                                                  std::string_view password, int64_t now_s) const {
  if (password.empty()) return Status::Unauthorized("no token in the password field");
  if (username.empty()) return Status::Unauthorized("no username");
  Result<TokenClaims> verified = codec_.Verify(password, now_s);
  if (!verified.ok()) return verified.status();
  const TokenClaims& claims = *verified;

  if (claims.role == kServiceRole) {
    if (claims.user_id != config_.service_user) {
      return Status::Unauthorized("service token for an account that is not the service user");
    }
    if (username != claims.user_id) {
      return Status::Unauthorized("username does not match the token");
    }
    ClientIdentity service;
    service.kind = ClientIdentity::Kind::kService;
    service.client_id = client_id;
    service.user_id = claims.user_id;
    return service;
  }
  if (!claims.role.empty()) return Status::Unauthorized("token role is not known to the broker");

  // A device token: JwtCodec guarantees valid user, device and session ids.
  if (username != claims.user_id) return Status::Unauthorized("username does not match the token");
  if (!IsConcatenation(client_id, {claims.user_id, ":", claims.device_id})) {
    return Status::Unauthorized("client id must be <user_id>:<device_id> of the token");
  }
  ClientIdentity device;
  device.kind = ClientIdentity::Kind::kDevice;
  device.client_id = client_id;
  device.user_id = claims.user_id;
  device.device_id = claims.device_id;
  device.session_id = claims.session_id;
  device.expires_at_s = claims.expires_at;
  return device;
}

bool AccessPolicy::IsOwnTopic(const ClientIdentity& who, std::string_view topic) const {
  const std::string& root = config_.topic_root;
  return IsConcatenation(topic, {root, "/u/", who.user_id}) ||
         IsConcatenation(topic, {root, "/d/", who.user_id, "/", who.device_id});
}

AclDecision AccessPolicy::CheckSubscribe(const ClientIdentity& who,
                                         std::string_view topic_filter) const {
  if (who.is_service()) return AclDecision::Allow();
  if (IsOwnTopic(who, topic_filter)) return AclDecision::Allow();
  if (HasWildcard(topic_filter)) return AclDecision::Deny("wildcard subscriptions are not allowed");
  if (std::string_view room = RoomOfTopic(topic_filter); !room.empty()) {
    return AclDecision::IfRoomMember(room);
  }
  if (AfterPrefix(topic_filter, {config_.topic_root, "/r/"})) {
    return AclDecision::Deny("not a room topic <root>/r/<room_id> with a valid room id");
  }
  return AclDecision::Deny("not the device's own inbox or device topic");
}

AclDecision AccessPolicy::CheckPublish(const ClientIdentity& who, std::string_view) const {
  if (who.is_service()) return AclDecision::Allow();
  return AclDecision::Deny("devices may not publish");
}

AclDecision AccessPolicy::CheckRead(const ClientIdentity& who, std::string_view topic,
                                    const RoomSet& readable_rooms) const {
  if (who.is_service() || IsOwnTopic(who, topic)) return AclDecision::Allow();
  if (std::string_view room = RoomOfTopic(topic); !room.empty()) {
    if (readable_rooms.contains(room)) return AclDecision::Allow();
    return AclDecision::Deny("room not subscribed as a member, or left since");
  }
  return AclDecision::Deny("not the device's own inbox or device topic");
}

AclDecision AccessPolicy::CheckRead(const ClientIdentity& who, std::string_view topic) const {
  static const RoomSet kNoRooms;
  return CheckRead(who, topic, kNoRooms);
}

std::string_view AccessPolicy::RoomOfTopic(std::string_view topic) const {
  std::optional<std::string_view> room = AfterPrefix(topic, {config_.topic_root, "/r/"});
  if (!room || !IsValidId(*room)) return {};
  return *room;
}

std::string AccessPolicy::InboxTopic(std::string_view user_id) const {
  std::string t = config_.topic_root;
  t.append("/u/").append(user_id);
  return t;
}

std::string AccessPolicy::DeviceTopic(std::string_view user_id, std::string_view device_id) const {
  std::string t = config_.topic_root;
  t.append("/d/").append(user_id).append("/").append(device_id);
  return t;
}

std::string AccessPolicy::RoomTopic(std::string_view room_id) const {
  std::string t = config_.topic_root;
  t.append("/r/").append(room_id);
  return t;
}

Status AccessPolicy::CheckDeviceConnection(int keepalive_s, bool clean_session) {
  if (keepalive_s < 1 || keepalive_s > kMaxDeviceKeepaliveS) {
    return Status::Unauthorized("keepalive must be 1-" + std::to_string(kMaxDeviceKeepaliveS) +
                                " s, got " + std::to_string(keepalive_s));
  }
  if (!clean_session) return Status::Unauthorized("devices must connect with a clean session");
  return Status::Ok();
}

}  // namespace courier::broker
