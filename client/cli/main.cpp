// courier: the command-line client. Parses the command line and calls one subcommand of
// commands.h; everything else lives there.
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

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

// A subcommand that was given, and what runs it.
struct Command {
  CLI::App* app;
  std::function<int()> run;
};

// The parsed commands, with checks that CLI11 cannot express (run after parsing; they throw
// CLI::ParseError).
struct CommandTable {
  std::vector<Command> commands;
  std::vector<std::function<void()>> checks;

  void Add(CLI::App* app, std::function<int()> run) { commands.push_back({app, std::move(run)}); }
};

void AddDeviceOptions(CLI::App* command, DeviceArgs* device) {
  command->add_option("--as", device->user, "The user to act as (logged in with courier login)")
      ->required()
      ->check(kValidId);
  command->add_option("--device", device->device, "The device of that login")
      ->required()
      ->check(kValidId);
}

// A subcommand that acts as a saved login (--as, --device).
CLI::App* DeviceCommand(CLI::App* parent, const std::string& name, const std::string& help,
                        DeviceArgs* device) {
  CLI::App* command = parent->add_subcommand(name, help);
  AddDeviceOptions(command, device);
  return command;
}

// --cmid, --kind, --text/--body (exactly one) and --deadline of a send.
void AddSendOptions(CLI::App* command, SendArgs* send, CommandTable* table) {
  command->add_option("--cmid", send->cmid,
                      "The client message id (default: a fresh random one); sending the same "
                      "cmid again never makes a second message");
  command->add_option("--kind", send->kind, "The message kind")->capture_default_str();
  CLI::Option* text = command->add_option("--text", send->text, "Send {\"text\": TEXT}");
  CLI::Option* body = command->add_option("--body", send->body_json, "Send this JSON body");
  text->excludes(body);
  command->add_option("--deadline", send->deadline_s, "Seconds for all attempts")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  table->checks.push_back([command, text, body, send] {
    send->has_text = text->count() > 0;
    send->has_body = body->count() > 0;
    if (command->parsed() && !send->has_text && !send->has_body) {
      throw CLI::RequiredError("--text or --body");
    }
  });
}

void AddAccountCommands(CLI::App& app, const GlobalArgs& global, CommandTable* table) {
  auto reg = std::make_shared<RegisterArgs>();
  CLI::App* register_cmd = app.add_subcommand("register", "Create a user");
  register_cmd->add_option("user", reg->user, "The new user id")->required()->check(kValidId);
  register_cmd->add_option("--password", reg->password, "Its password")->required();
  register_cmd->add_option("--display-name", reg->display_name, "A display name");
  table->Add(register_cmd, [&global, reg] { return RunRegister(global, *reg); });

  auto login = std::make_shared<LoginArgs>();
  CLI::App* login_cmd = app.add_subcommand(
      "login", "Log a device in and save its session as <state-dir>/<user>.<device>.session.json");
  login_cmd->add_option("user", login->user, "The user id")->required()->check(kValidId);
  login_cmd->add_option("--password", login->password, "The password")->required();
  login_cmd->add_option("--device", login->device, "A stable name for this device")
      ->required()
      ->check(kValidId);
  login_cmd
      ->add_option("--platform", login->platform,
                   "ios, android, web, desktop or cli: a new login ends the user's older session "
                   "on the same platform")
      ->capture_default_str();
  login_cmd->add_flag("--show-token", login->show_token, "Print the token too");
  table->Add(login_cmd, [&global, login] { return RunLogin(global, *login); });

  auto device = std::make_shared<DeviceArgs>();
  CLI::App* logout_cmd =
      DeviceCommand(&app, "logout", "End a saved session and remove its file", device.get());
  table->Add(logout_cmd, [&global, device] { return RunLogout(global, *device); });
}

void AddInboxCommands(CLI::App& app, const GlobalArgs& global, CommandTable* table) {
  auto send_device = std::make_shared<DeviceArgs>();
  auto send = std::make_shared<SendArgs>();
  CLI::App* send_cmd = DeviceCommand(
      &app, "send", "Send a message; retried with the same cmid until it is stored or --deadline",
      send_device.get());
  send_cmd->add_option("--to", send->to, "The recipient: user:<id>, group:<id> or room:<id>")
      ->required();
  AddSendOptions(send_cmd, send.get(), table);
  table->Add(send_cmd,
             [&global, send_device, send] { return RunSend(global, *send_device, *send); });

  auto listen_device = std::make_shared<DeviceArgs>();
  auto listen = std::make_shared<ListenArgs>();
  CLI::App* listen_cmd = DeviceCommand(
      &app, "listen",
      "Connect, catch up and print every inbox entry delivered (one JSON line each, in seq "
      "order, exactly once across runs)",
      listen_device.get());
  listen_cmd->add_option("--count", listen->count, "Stop after this many entries")
      ->check(CLI::PositiveNumber);
  listen_cmd->add_option("--timeout", listen->timeout_s, "Stop after this many seconds")
      ->check(CLI::PositiveNumber);
  listen_cmd
      ->add_option("--ack-interval-ms", listen->ack_interval_ms,
                   "How often to ack (and notice lost pushes)")
      ->capture_default_str()
      ->check(CLI::Range(100, 3600 * 1000));
  listen_cmd->add_flag("--signals", listen->signals,
                       "Print signals (typing, presence) too, as they come; they count towards "
                       "--count but are never repeated");
  table->Add(listen_cmd, [&global, listen_device, listen] {
    return RunListen(global, *listen_device, *listen);
  });

  auto sync_device = std::make_shared<DeviceArgs>();
  auto sync = std::make_shared<SyncArgs>();
  CLI::App* sync_cmd = DeviceCommand(&app, "sync", "Print one raw page of the inbox (GET /v1/sync)",
                                     sync_device.get());
  sync_cmd->add_option("--after", sync->after, "Entries after this seq")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sync_cmd->add_option("--limit", sync->limit, "At most this many")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  table->Add(sync_cmd,
             [&global, sync_device, sync] { return RunSync(global, *sync_device, *sync); });

  auto ack_device = std::make_shared<DeviceArgs>();
  auto ack = std::make_shared<AckArgs>();
  CLI::App* ack_cmd = DeviceCommand(
      &app, "ack", "Acknowledge the inbox up to a seq (POST /v1/acks); prints latest_seq and epoch",
      ack_device.get());
  ack_cmd->add_option("--seq", ack->seq, "The seq")->required()->check(CLI::NonNegativeNumber);
  table->Add(ack_cmd, [&global, ack_device, ack] { return RunAck(global, *ack_device, *ack); });
}

void AddGroupCommands(CLI::App& app, const GlobalArgs& global, CommandTable* table) {
  CLI::App* group = app.add_subcommand("group", "Create, show and change groups");
  group->require_subcommand(1);

  auto device = std::make_shared<DeviceArgs>();
  auto create = std::make_shared<GroupArgs>();
  CLI::App* create_cmd =
      DeviceCommand(group, "create", "Create a group owned by you; prints the group", device.get());
  create_cmd->add_option("--name", create->name, "Its name")->required();
  create_cmd->add_option("--id", create->group_id, "Its id (default: the server picks one)")
      ->check(kValidId);
  create_cmd
      ->add_option("--members", create->users,
                   "The other members: --members bob,carol or --members bob --members carol")
      ->delimiter(',')
      ->check(kValidId);
  table->Add(create_cmd,
             [&global, device, create] { return RunGroupCreate(global, *device, *create); });

  auto show = std::make_shared<GroupArgs>();
  CLI::App* show_cmd =
      DeviceCommand(group, "show", "Print a group you are a member of", device.get());
  show_cmd->add_option("group", show->group_id, "The group id")->required()->check(kValidId);
  table->Add(show_cmd, [&global, device, show] { return RunGroupShow(global, *device, *show); });

  auto add = std::make_shared<GroupArgs>();
  CLI::App* add_cmd = DeviceCommand(
      group, "add", "Add members (owner and admins); prints the group after", device.get());
  add_cmd->add_option("group", add->group_id, "The group id")->required()->check(kValidId);
  add_cmd->add_option("users", add->users, "The users to add")->required()->check(kValidId);
  table->Add(add_cmd, [&global, device, add] { return RunGroupAdd(global, *device, *add); });

  auto remove = std::make_shared<GroupArgs>();
  CLI::App* remove_cmd =
      DeviceCommand(group, "remove", "Remove a member (the owner)", device.get());
  remove_cmd->add_option("group", remove->group_id, "The group id")->required()->check(kValidId);
  remove_cmd->add_option("user", remove->users, "The member to remove")
      ->required()
      ->expected(1)
      ->check(kValidId);
  table->Add(remove_cmd,
             [&global, device, remove] { return RunGroupRemove(global, *device, *remove); });

  auto role = std::make_shared<GroupArgs>();
  CLI::App* role_cmd = DeviceCommand(
      group, "role", "Make a member an admin, or a member again (the owner)", device.get());
  role_cmd->add_option("group", role->group_id, "The group id")->required()->check(kValidId);
  role_cmd->add_option("user", role->member, "The member")->required()->check(kValidId);
  role_cmd->add_option("role", role->role, "admin or member")
      ->required()
      ->check(CLI::IsMember({"admin", "member"}));
  table->Add(role_cmd, [&global, device, role] { return RunGroupRole(global, *device, *role); });

  auto leave = std::make_shared<GroupArgs>();
  CLI::App* leave_cmd = DeviceCommand(group, "leave", "Leave a group", device.get());
  leave_cmd->add_option("group", leave->group_id, "The group id")->required()->check(kValidId);
  table->Add(leave_cmd,
             [&global, device, leave] { return RunGroupLeave(global, *device, *leave); });
}

void AddFriendCommands(CLI::App& app, const GlobalArgs& global, CommandTable* table) {
  CLI::App* friend_cmd = app.add_subcommand("friend", "Friend requests and friends");
  friend_cmd->require_subcommand(1);
  auto device = std::make_shared<DeviceArgs>();

  auto request = std::make_shared<FriendArgs>();
  CLI::App* request_cmd = DeviceCommand(
      friend_cmd, "request", "Ask a user to be friends; prints the request id", device.get());
  request_cmd->add_option("user", request->user, "The user")->required()->check(kValidId);
  request_cmd->add_option("--note", request->note, "A note for them");
  table->Add(request_cmd,
             [&global, device, request] { return RunFriendRequest(global, *device, *request); });

  CLI::App* requests_cmd =
      DeviceCommand(friend_cmd, "requests", "Print the pending requests to you", device.get());
  table->Add(requests_cmd, [&global, device] { return RunFriendRequests(global, *device); });

  auto accept = std::make_shared<FriendArgs>();
  CLI::App* accept_cmd =
      DeviceCommand(friend_cmd, "accept", "Accept a request to you", device.get());
  accept_cmd->add_option("request_id", accept->request_id, "The request id")->required();
  table->Add(accept_cmd,
             [&global, device, accept] { return RunFriendAccept(global, *device, *accept); });

  auto reject = std::make_shared<FriendArgs>();
  CLI::App* reject_cmd =
      DeviceCommand(friend_cmd, "reject", "Reject a request to you", device.get());
  reject_cmd->add_option("request_id", reject->request_id, "The request id")->required();
  table->Add(reject_cmd,
             [&global, device, reject] { return RunFriendReject(global, *device, *reject); });

  CLI::App* list_cmd = DeviceCommand(friend_cmd, "list", "Print your friends", device.get());
  table->Add(list_cmd, [&global, device] { return RunFriendList(global, *device); });

  auto remove = std::make_shared<FriendArgs>();
  CLI::App* remove_cmd = DeviceCommand(friend_cmd, "remove", "End a friendship", device.get());
  remove_cmd->add_option("user", remove->user, "The friend")->required()->check(kValidId);
  table->Add(remove_cmd,
             [&global, device, remove] { return RunFriendRemove(global, *device, *remove); });
}

void AddBlockCommands(CLI::App& app, const GlobalArgs& global, CommandTable* table) {
  auto device = std::make_shared<DeviceArgs>();
  auto user = std::make_shared<std::string>();
  CLI::App* block_cmd = DeviceCommand(
      &app, "block", "Block a user: their messages to you fail with blocked", device.get());
  block_cmd->add_option("user", *user, "The user")->required()->check(kValidId);
  table->Add(block_cmd, [&global, device, user] { return RunBlock(global, *device, *user); });

  CLI::App* unblock_cmd = DeviceCommand(&app, "unblock", "Unblock a user", device.get());
  unblock_cmd->add_option("user", *user, "The user")->required()->check(kValidId);
  table->Add(unblock_cmd, [&global, device, user] { return RunUnblock(global, *device, *user); });

  CLI::App* blocks_cmd = DeviceCommand(&app, "blocks", "Print the users you block", device.get());
  table->Add(blocks_cmd, [&global, device] { return RunBlocks(global, *device); });
}

void AddRoomCommands(CLI::App& app, const GlobalArgs& global, CommandTable* table) {
  CLI::App* room = app.add_subcommand("room", "Join, leave, send to and listen to chat rooms");
  room->require_subcommand(1);
  auto device = std::make_shared<DeviceArgs>();
  auto args = std::make_shared<RoomArgs>();
  auto add_room = [&](CLI::App* command) {
    command->add_option("room", args->room, "The room id")->required()->check(kValidId);
  };

  CLI::App* join_cmd =
      DeviceCommand(room, "join", "Join a room (made by its first join)", device.get());
  add_room(join_cmd);
  table->Add(join_cmd, [&global, device, args] { return RunRoomJoin(global, *device, *args); });

  CLI::App* leave_cmd = DeviceCommand(room, "leave", "Leave a room", device.get());
  add_room(leave_cmd);
  table->Add(leave_cmd, [&global, device, args] { return RunRoomLeave(global, *device, *args); });

  auto send = std::make_shared<SendArgs>();
  CLI::App* send_cmd = DeviceCommand(
      room, "send", "Send a message to a room you joined (as send --to room:<room>)", device.get());
  add_room(send_cmd);
  AddSendOptions(send_cmd, send.get(), table);
  table->Add(send_cmd,
             [&global, device, args, send] { return RunRoomSend(global, *device, *args, *send); });

  CLI::App* listen_cmd = DeviceCommand(
      room, "listen",
      "Join a room and print its messages as they come (one JSON line each). Use a device of "
      "its own: a device id has one connection, and `listen` on the same device takes it over",
      device.get());
  add_room(listen_cmd);
  listen_cmd->add_option("--count", args->count, "Stop after this many messages")
      ->check(CLI::PositiveNumber);
  listen_cmd->add_option("--timeout", args->timeout_s, "Stop after this many seconds")
      ->check(CLI::PositiveNumber);
  table->Add(listen_cmd, [&global, device, args] { return RunRoomListen(global, *device, *args); });
}

void AddConversationCommands(CLI::App& app, const GlobalArgs& global, CommandTable* table) {
  auto device = std::make_shared<DeviceArgs>();

  auto limit = std::make_shared<int>(0);
  CLI::App* conversations_cmd = DeviceCommand(
      &app, "conversations",
      "Print your conversations, newest activity first: {items: [{conv, last, unread}]}",
      device.get());
  conversations_cmd->add_option("--limit", *limit, "At most this many")->check(CLI::PositiveNumber);
  table->Add(conversations_cmd,
             [&global, device, limit] { return RunConversations(global, *device, *limit); });

  auto history = std::make_shared<HistoryArgs>();
  CLI::App* history_cmd = DeviceCommand(
      &app, "history", "Print a page of a conversation's messages, newest first", device.get());
  history_cmd->add_option("conv", history->conv, "The conversation: u:<a>:<b>, g:<id> or r:<id>")
      ->required();
  history_cmd->add_option("--before", history->before, "Only messages before this conv_seq")
      ->check(CLI::PositiveNumber);
  history_cmd->add_option("--limit", history->limit, "At most this many")
      ->check(CLI::PositiveNumber);
  table->Add(history_cmd,
             [&global, device, history] { return RunHistory(global, *device, *history); });

  auto read = std::make_shared<ReadArgs>();
  CLI::App* read_cmd = DeviceCommand(
      &app, "read", "Mark a conversation read up to a conv_seq (a read receipt to the others)",
      device.get());
  read_cmd->add_option("conv", read->conv, "The conversation")->required();
  read_cmd->add_option("conv_seq", read->conv_seq, "Read up to this conv_seq")
      ->required()
      ->check(CLI::PositiveNumber);
  table->Add(read_cmd, [&global, device, read] { return RunRead(global, *device, *read); });

  auto id = std::make_shared<std::string>();
  CLI::App* recall_cmd = DeviceCommand(
      &app, "recall", "Recall a message you sent, within the recall window", device.get());
  recall_cmd->add_option("id", *id, "The message id")->required();
  table->Add(recall_cmd, [&global, device, id] { return RunRecall(global, *device, *id); });

  auto signal = std::make_shared<SignalArgs>();
  CLI::App* signal_cmd =
      DeviceCommand(&app, "signal", "Push a signal (never stored), e.g. typing, to a user or group",
                    device.get());
  signal_cmd->add_option("to", signal->to, "user:<id> or group:<id>")->required();
  signal_cmd->add_option("kind", signal->kind, "The kind, e.g. typing")->required();
  table->Add(signal_cmd, [&global, device, signal] { return RunSignal(global, *device, *signal); });

  auto users = std::make_shared<std::vector<std::string>>();
  CLI::App* presence_cmd = DeviceCommand(
      &app, "presence", "Print who is online: {user: {online, last_seen}}", device.get());
  presence_cmd->add_option("users", *users, "User ids: a,b,c or a b c")
      ->required()
      ->delimiter(',')
      ->check(kValidId);
  table->Add(presence_cmd,
             [&global, device, users] { return RunPresence(global, *device, *users); });
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

  CommandTable table;
  AddAccountCommands(app, global, &table);
  AddInboxCommands(app, global, &table);
  AddGroupCommands(app, global, &table);
  AddFriendCommands(app, global, &table);
  AddBlockCommands(app, global, &table);
  AddRoomCommands(app, global, &table);
  AddConversationCommands(app, global, &table);

  try {
    app.parse(argc, argv);
    for (const auto& check : table.checks) check();
    if (auto base = courier::client::ParseBaseUrl(global.url); !base.ok()) {
      throw CLI::ValidationError("--url", base.status().message());
    }
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);  // prints help (code 0) or the error
    return code == 0 ? kExitOk : kExitUsage;
  }

  for (const Command& command : table.commands) {
    if (command.app->parsed()) return command.run();
  }
  return kExitUsage;
}
