// Fuzz target: the broker plugin's decisions (downlink/broker_plugin/access_policy.h,
// control_command.h, log_text.h): what any MQTT client can put in CONNECT (client id, username,
// password) and SUBSCRIBE/PUBLISH (topics), and the $CONTROL payloads the plugin parses.
// AccessPolicy is pure (the Redis part of a connect is the plugin's), so no fake is needed.
//
// Input: one selector byte, then
//   c   CONNECT with a token signed here: lines client id, username, then the token's sub, dev,
//       sid and role (folded to 7 bits, as Sign's callers pass ids); it expires in an hour
//   t   CONNECT with a literal token: lines client id, username, then the password (the rest)
//   s   topic checks: lines topic root ("courier" unless valid), S for the service account,
//       user, device (defaults when not valid ids), readable rooms (comma-separated), then the
//       topic or topic filter (the rest)
//   k   a $CONTROL payload (the rest), and a kick decided against a connection on session "s1"
// Any other selector byte picks one of these by its value.
//
// Asserts: Authenticate refuses with Unauthorized and never quotes the token in its reason; an
// accepted device is exactly <user>:<device> of its token with the token's user as username and
// valid ids; an accepted service account is the configured service user with role "service".
// A device may subscribe to and read exactly its own inbox and device topics, is sent to the
// room check only for <root>/r/<valid room id> (never for a wildcard), reads a room only if it
// is in its readable set, and never publishes; the service account may do all. Log text is
// printable ASCII within its length bound. A parsed control command has valid ids and
// re-encodes to a payload that parses to itself; errors are invalid_json/invalid_field.
#include <charconv>
#include <nlohmann/json.hpp>

#include "common/ids.h"
#include "downlink/broker_plugin/access_policy.h"
#include "downlink/broker_plugin/control_command.h"
#include "downlink/broker_plugin/log_text.h"
#include "tests/fuzz/fuzz_support.h"

namespace courier::fuzz {
namespace {

using broker::AccessPolicy;
using broker::AclDecision;
using broker::ClientIdentity;
using nlohmann::json;

constexpr int64_t kNow = 1'800'000'000;
constexpr std::string_view kSecret = "fuzz-secret";
constexpr std::string_view kServiceUser = "courier-service";

std::string Ascii(std::string_view bytes) {
  std::string out(bytes);
  for (char& c : out) c = static_cast<char>(c & 0x7F);
  return out;
}

const AccessPolicy& DefaultPolicy() {
  static const AccessPolicy policy(broker::PolicyConfig{}, JwtCodec({std::string(kSecret)}));
  return policy;
}

void FuzzConnect(std::string_view client_id, std::string_view username, std::string_view password) {
  const AccessPolicy& policy = DefaultPolicy();
  auto who = policy.Authenticate(client_id, username, password, kNow);
  if (!who.ok()) {
    FUZZ_CHECK(who.status().code() == Status::Code::kUnauthorized);
    // Reasons go to the broker's log: never the secret the client sent.
    if (password.size() >= 16)
      FUZZ_CHECK(who.status().message().find(password) == std::string::npos);
    return;
  }
  FUZZ_CHECK(who->client_id == client_id);
  if (who->is_service()) {
    FUZZ_CHECK(who->user_id == kServiceUser && username == kServiceUser);
    auto claims = JwtCodec({std::string(kSecret)}).Verify(password, kNow);
    FUZZ_CHECK(claims.ok() && claims->role == "service");
    return;
  }
  FUZZ_CHECK(IsValidId(who->user_id) && IsValidId(who->device_id) && IsValidId(who->session_id));
  FUZZ_CHECK(username == who->user_id);
  FUZZ_CHECK(client_id == broker::DeviceClientId(who->user_id, who->device_id));
  std::string user, device;
  FUZZ_CHECK(broker::ParseDeviceClientId(client_id, &user, &device));
  FUZZ_CHECK(user == who->user_id && device == who->device_id);
}

void FuzzSignedConnect(FuzzInput& in) {
  std::string client_id(in.TakeLine());
  std::string username(in.TakeLine());
  TokenClaims c;
  c.user_id = Ascii(in.TakeLine());
  c.device_id = Ascii(in.TakeLine());
  c.session_id = Ascii(in.TakeLine());
  c.role = Ascii(in.TakeLine());
  c.platform = "ios";
  c.issued_at = kNow;
  c.expires_at = kNow + 3600;
  FuzzConnect(client_id, username, JwtCodec({std::string(kSecret)}).Sign(c));
}

void CheckLogText(std::string_view text, size_t max_len) {
  std::string out = broker::PrintableForLog(text, max_len);
  FUZZ_CHECK(out.size() <= max_len + 3);
  for (char c : out) FUZZ_CHECK(c >= 0x20 && c < 0x7F);
  if (text.size() <= max_len) FUZZ_CHECK(out.size() == text.size());
}

void FuzzTopics(FuzzInput& in) {
  std::string root(in.TakeLine());
  if (!broker::IsValidTopicRoot(root)) root = "courier";
  bool service = in.TakeLine() == "S";
  std::string user(in.TakeLine()), device(in.TakeLine());
  if (!IsValidId(user)) user = "alice";
  if (!IsValidId(device)) device = "phone";
  broker::RoomSet rooms;
  std::string_view list = in.TakeLine();
  while (!list.empty()) {
    size_t comma = list.find(',');
    rooms.emplace(list.substr(0, comma));
    list.remove_prefix(comma == std::string_view::npos ? list.size() : comma + 1);
  }
  std::string_view topic = in.TakeRest();

  AccessPolicy policy(broker::PolicyConfig{root, std::string(kServiceUser)},
                      JwtCodec({std::string(kSecret)}));
  ClientIdentity who;
  who.kind = service ? ClientIdentity::Kind::kService : ClientIdentity::Kind::kDevice;
  who.user_id = service ? std::string(kServiceUser) : user;
  who.device_id = service ? "" : device;
  who.client_id = service ? "downlink-1" : broker::DeviceClientId(user, device);
  who.session_id = service ? "" : "s1";

  AclDecision sub = policy.CheckSubscribe(who, topic);
  AclDecision pub = policy.CheckPublish(who, topic);
  AclDecision read = policy.CheckRead(who, topic, rooms);
  AclDecision read_no_rooms = policy.CheckRead(who, topic);
  std::string_view room = policy.RoomOfTopic(topic);
  if (!room.empty()) FUZZ_CHECK(IsValidId(room) && policy.RoomTopic(room) == topic);

  if (service) {
    FUZZ_CHECK(sub.allowed && pub.allowed && read.allowed && read_no_rooms.allowed);
  } else {
    bool own = topic == policy.InboxTopic(user) || topic == policy.DeviceTopic(user, device);
    FUZZ_CHECK(!pub.allowed && !pub.reason.empty());
    FUZZ_CHECK(sub.allowed == own);
    if (sub.needs_room_membership()) {
      FUZZ_CHECK(!sub.allowed && sub.room_id == room && !room.empty());
      FUZZ_CHECK(topic.find_first_of("+#") == std::string_view::npos);
    } else if (!sub.allowed) {
      FUZZ_CHECK(!sub.reason.empty());
    }
    FUZZ_CHECK(!sub.allowed || !sub.needs_room_membership());
    FUZZ_CHECK(read.allowed == (own || (!room.empty() && rooms.contains(room))));
    FUZZ_CHECK(read_no_rooms.allowed == own);
  }
  CheckLogText(topic, 128);
  CheckLogText(topic, topic.size() / 2);
}

void FuzzControl(std::string_view payload) {
  auto command = broker::ParseControlCommand(payload);
  if (!command.ok()) {
    FUZZ_CHECK(command.status().code() == Status::Code::kInvalidJson ||
               command.status().code() == Status::Code::kInvalidField);
    return;
  }
  FUZZ_CHECK(payload.size() <= 4096);
  json again;
  if (command->op == broker::ControlCommand::Op::kKick) {
    std::string user, device;
    FUZZ_CHECK(broker::ParseDeviceClientId(command->client_id, &user, &device));
    FUZZ_CHECK(command->session_id.empty() || IsValidId(command->session_id));
    FUZZ_CHECK(command->user_id.empty() && command->room_id.empty());
    again = {{"op", "kick"}, {"client_id", command->client_id}};
    if (!command->session_id.empty()) again["session_id"] = command->session_id;

    ClientIdentity current;
    current.client_id = command->client_id;
    current.user_id = user;
    current.device_id = device;
    current.session_id = "s1";
    FUZZ_CHECK(broker::DecideKick(*command, nullptr) == broker::KickDecision::kNotConnected);
    bool same_session = command->session_id.empty() || command->session_id == "s1";
    FUZZ_CHECK(broker::DecideKick(*command, &current) ==
               (same_session ? broker::KickDecision::kKick : broker::KickDecision::kOtherSession));
  } else {
    FUZZ_CHECK(IsValidId(command->user_id) && IsValidId(command->room_id));
    FUZZ_CHECK(command->client_id.empty() && command->session_id.empty());
    again = {{"op", "room_leave"}, {"user_id", command->user_id}, {"room_id", command->room_id}};
  }
  auto reparsed = broker::ParseControlCommand(again.dump());
  FUZZ_CHECK(reparsed.ok() && *reparsed == *command);
}

}  // namespace
}  // namespace courier::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace courier::fuzz;
  static constexpr std::string_view kSelectors = "ctsk";
  FuzzInput in(data, size);
  uint8_t byte = in.TakeByte();
  char selector = kSelectors.find(static_cast<char>(byte)) != std::string_view::npos
                      ? static_cast<char>(byte)
                      : kSelectors[byte % kSelectors.size()];
  NoThrow([&] {
    switch (selector) {
      case 'c':
        FuzzSignedConnect(in);
        break;
      case 't': {
        std::string_view client_id = in.TakeLine();
        std::string_view username = in.TakeLine();
        FuzzConnect(client_id, username, in.TakeRest());
        break;
      }
      case 's':
        FuzzTopics(in);
        break;
      default:
        FuzzControl(in.TakeRest());
        break;
    }
  });
  return 0;
}
