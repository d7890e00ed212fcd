// courier: the command-line client. Parses the command line and calls one subcommand of
// commands.h; everything else lives there.
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <string>

#include "client/api_codec.h"
#include "client/cli/commands.h"
#include "common/ids.h"

namespace {

using namespace courier::client::cli;

std::string DefaultStateDir() {
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr && *home != '\0' ? home : ".") + "/.courier";
}

// An identifier as SPEC §2 allows (the session and cursor file names are made of them).
const auto kValidId = CLI::Validator(
    [](std::string& value) {
      return courier::IsValidId(value) ? std::string()
                                       : "must be 1-64 characters of [A-Za-z0-9_.-]";
    },
    "ID");

void AddDeviceOptions(CLI::App* command, DeviceArgs* device) {
  command->add_option("--as", device->user, "The user to act as (logged in with courier login)")
      ->required()
      ->check(kValidId);
  command->add_option("--device", device->device, "The device of that login")
      ->required()
      ->check(kValidId);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "courier: the Courier IM command-line client.\n"
      "Log in once per user and device; later commands act as that device with --as/--device.\n"
      "Answers are one line of JSON on stdout; errors go to stderr.\n"
      "Exit codes: 0 ok, 1 the request failed, 2 usage error."};
  app.fallthrough();  // global options may also follow the subcommand
  app.require_subcommand(1);

  GlobalArgs global;
  global.url = "http://127.0.0.1:8080";
  global.state_dir = DefaultStateDir();
  app.add_option("--url", global.url, "The uplink's base URL")
      ->envname("COURIER_URL")
      ->capture_default_str();
  app.add_option("--state-dir", global.state_dir,
                 "Where saved sessions (mode 0600) and inbox cursors are kept")
      ->envname("COURIER_STATE_DIR")
      ->capture_default_str();

  RegisterArgs reg;
  CLI::App* register_cmd = app.add_subcommand("register", "Create a user");
  register_cmd->add_option("user", reg.user, "The new user id")->required()->check(kValidId);
  register_cmd->add_option("--password", reg.password, "Its password")->required();
  register_cmd->add_option("--display-name", reg.display_name, "A display name");

  LoginArgs login;
  CLI::App* login_cmd = app.add_subcommand(
      "login", "Log a device in and save its session as <state-dir>/<user>.<device>.session.json");
  login_cmd->add_option("user", login.user, "The user id")->required()->check(kValidId);
  login_cmd->add_option("--password", login.password, "The password")->required();
  login_cmd->add_option("--device", login.device, "A stable name for this device")
      ->required()
      ->check(kValidId);
  login_cmd
      ->add_option("--platform", login.platform,
                   "ios, android, web, desktop or cli: a new login ends the user's older session "
                   "on the same platform")
      ->capture_default_str();
  login_cmd->add_flag("--show-token", login.show_token, "Print the token too");

  DeviceArgs logout_device;
  CLI::App* logout_cmd = app.add_subcommand("logout", "End a saved session and remove its file");
  AddDeviceOptions(logout_cmd, &logout_device);

  DeviceArgs send_device;
  SendArgs send;
  CLI::App* send_cmd = app.add_subcommand(
      "send", "Send a message; retried with the same cmid until it is stored or --deadline");
  AddDeviceOptions(send_cmd, &send_device);
  send_cmd->add_option("--to", send.to, "The recipient, e.g. user:bob")->required();
  send_cmd->add_option("--cmid", send.cmid,
                       "The client message id (default: a fresh random one); sending the same "
                       "cmid again never makes a second message");
  send_cmd->add_option("--kind", send.kind, "The message kind")->capture_default_str();
  CLI::Option* text_opt = send_cmd->add_option("--text", send.text, "Send {\"text\": TEXT}");
  CLI::Option* body_opt = send_cmd->add_option("--body", send.body_json, "Send this JSON body");
  text_opt->excludes(body_opt);
  send_cmd->add_option("--deadline", send.deadline_s, "Seconds for all attempts")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);

  DeviceArgs listen_device;
  ListenArgs listen;
  CLI::App* listen_cmd = app.add_subcommand(
      "listen",
      "Connect, catch up and print every inbox entry delivered (one JSON line each, in seq "
      "order, exactly once across runs)");
  AddDeviceOptions(listen_cmd, &listen_device);
  listen_cmd->add_option("--count", listen.count, "Stop after this many entries")
      ->check(CLI::PositiveNumber);
  listen_cmd->add_option("--timeout", listen.timeout_s, "Stop after this many seconds")
      ->check(CLI::PositiveNumber);
  listen_cmd
      ->add_option("--ack-interval-ms", listen.ack_interval_ms,
                   "How often to ack (and notice lost pushes)")
      ->capture_default_str()
      ->check(CLI::Range(100, 3600 * 1000));

  DeviceArgs sync_device;
  SyncArgs sync;
  CLI::App* sync_cmd = app.add_subcommand("sync", "Print one raw page of the inbox (GET /v1/sync)");
  AddDeviceOptions(sync_cmd, &sync_device);
  sync_cmd->add_option("--after", sync.after, "Entries after this seq")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sync_cmd->add_option("--limit", sync.limit, "At most this many")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);

  DeviceArgs ack_device;
  AckArgs ack;
  CLI::App* ack_cmd = app.add_subcommand(
      "ack", "Acknowledge the inbox up to a seq (POST /v1/acks); prints latest_seq and epoch");
  AddDeviceOptions(ack_cmd, &ack_device);
  ack_cmd->add_option("--seq", ack.seq, "The seq")->required()->check(CLI::NonNegativeNumber);

  try {
    app.parse(argc, argv);
    send.has_text = text_opt->count() > 0;
    send.has_body = body_opt->count() > 0;
    if (send_cmd->parsed() && !send.has_text && !send.has_body) {
      throw CLI::RequiredError("--text or --body");
    }
    if (auto base = courier::client::ParseBaseUrl(global.url); !base.ok()) {
      throw CLI::ValidationError("--url", base.status().message());
    }
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);  // prints help (code 0) or the error
    return code == 0 ? kExitOk : kExitUsage;
  }

  if (register_cmd->parsed()) return RunRegister(global, reg);
  if (login_cmd->parsed()) return RunLogin(global, login);
  if (logout_cmd->parsed()) return RunLogout(global, logout_device);
  if (send_cmd->parsed()) return RunSend(global, send_device, send);
  if (listen_cmd->parsed()) return RunListen(global, listen_device, listen);
  if (sync_cmd->parsed()) return RunSync(global, sync_device, sync);
  if (ack_cmd->parsed()) return RunAck(global, ack_device, ack);
  return kExitUsage;
}
