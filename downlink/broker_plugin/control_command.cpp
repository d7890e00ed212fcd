#include "downlink/broker_plugin/control_command.h"

#include <nlohmann/json.hpp>

#include "common/ids.h"

namespace courier::broker {

namespace {

using nlohmann::json;

constexpr size_t kMaxPayloadBytes = 4096;

// doc[field] when it is a string that is a valid id (common/ids.h).
Result<std::string> IdField(const json& doc, const char* field) {
  auto it = doc.find(field);
  if (it == doc.end() || !it->is_string() || !IsValidId(it->get_ref<const std::string&>())) {
    return Status::InvalidField(std::string(field) + " must be a valid id");
  }
  return it->get<std::string>();
}

Result<ControlCommand> ParseKick(const json& doc) {
  auto client_id = doc.find("client_id");
  if (client_id == doc.end() || !client_id->is_string()) {
    return Status::InvalidField("client_id must be a string");
  }
  ControlCommand command;
  command.op = ControlCommand::Op::kKick;
  command.client_id = client_id->get<std::string>();
  std::string user_id, device_id;
  if (!ParseDeviceClientId(command.client_id, &user_id, &device_id)) {
    return Status::InvalidField("client_id must be <user_id>:<device_id>");
  }
  if (doc.contains("session_id")) {
    Result<std::string> session = IdField(doc, "session_id");
    if (!session.ok()) return session.status();
    command.session_id = std::move(*session);
  }
  return command;
}

Result<ControlCommand> ParseRoomLeave(const json& doc) {
  Result<std::string> user_id = IdField(doc, "user_id");
  if (!user_id.ok()) return user_id.status();
  Result<std::string> room_id = IdField(doc, "room_id");
  if (!room_id.ok()) return room_id.status();
  ControlCommand command;
  command.op = ControlCommand::Op::kRoomLeave;
  command.user_id = std::move(*user_id);
  command.room_id = std::move(*room_id);
  return command;
}

}  // namespace

Result<ControlCommand> ParseControlCommand(std::string_view payload) {
  if (payload.size() > kMaxPayloadBytes) return Status::InvalidJson("control payload too large");
  json doc = json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return Status::InvalidJson("control payload must be a JSON object");

  auto op = doc.find("op");
  if (op == doc.end() || !op->is_string()) return Status::InvalidField("op must be a string");
  const std::string& name = op->get_ref<const std::string&>();
  if (name == "kick") return ParseKick(doc);
  if (name == "room_leave") return ParseRoomLeave(doc);
  return Status::InvalidField("unknown op");
}

KickDecision DecideKick(const ControlCommand& command, const ClientIdentity* current) {
  if (current == nullptr) return KickDecision::kNotConnected;
  if (!command.session_id.empty() && current->session_id != command.session_id) {
    return KickDecision::kOtherSession;
  }
  return KickDecision::kKick;
}

}  // namespace courier::broker
