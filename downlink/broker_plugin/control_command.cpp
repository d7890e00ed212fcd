#include "downlink/broker_plugin/control_command.h"

#include <nlohmann/json.hpp>

#include "common/ids.h"

namespace courier::broker {

namespace {

using nlohmann::json;

constexpr size_t kMaxPayloadBytes = 4096;

}  // namespace

Result<ControlCommand> ParseControlCommand(std::string_view payload) {
  if (payload.size() > kMaxPayloadBytes) return Status::InvalidJson("control payload too large");
  json doc = json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return Status::InvalidJson("control payload must be a JSON object");

  auto op = doc.find("op");
  if (op == doc.end() || !op->is_string()) return Status::InvalidField("op must be a string");
  if (op->get_ref<const std::string&>() != "kick") return Status::InvalidField("unknown op");

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
  if (auto session = doc.find("session_id"); session != doc.end()) {
    if (!session->is_string() || !IsValidId(session->get_ref<const std::string&>())) {
      return Status::InvalidField("session_id must be a valid id");
    }
    command.session_id = session->get<std::string>();
  }
  return command;
}

KickDecision DecideKick(const ControlCommand& command, const ClientIdentity* current) {
  if (current == nullptr) return KickDecision::kNotConnected;
  if (!command.session_id.empty() && current->session_id != command.session_id) {
    return KickDecision::kOtherSession;
  }
  return KickDecision::kKick;
}

}  // namespace courier::broker
