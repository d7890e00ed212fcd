// The `courier` CLI's subcommands, one function each, over the SDK (client/courier_client.h)
// and its HTTP calls (client/api_client.h). main.cpp only parses the command line into these
// structs. Each prints its answer as one line of compact JSON on stdout and any error on stderr
// ("courier: <code>: <message>"), and returns the exit code. commands.cpp holds the account,
// send and inbox commands; social_commands.cpp groups, friends and blocks;
// conversation_commands.cpp conversations, history, read marks, recalls, signals and presence;
// room_commands.cpp rooms.
//
// Thread-safety: each runs on the CLI's main thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace courier::client::cli {

// Exit codes of every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed =
    1;                                // the request failed, or the answer was not the one hoped for
inline constexpr int kExitUsage = 2;  // the command line is wrong

struct GlobalArgs {
  std::string url;        // the uplink, e.g. http://127.0.0.1:8080
  std::string state_dir;  // sessions and cursors
};

struct RegisterArgs {
  std::string user;
  std::string password;
  std::string display_name;
};
int RunRegister(const GlobalArgs& global, const RegisterArgs& args);

struct LoginArgs {
  std::string user;
  std::string password;
  std::string device;
  std::string platform = "cli";
  bool show_token = false;
};
int RunLogin(const GlobalArgs& global, const LoginArgs& args);

// --as/--device: which saved session a command acts as.
struct DeviceArgs {
  std::string user;
  std::string device;
};
int RunLogout(const GlobalArgs& global, const DeviceArgs& device);

struct SendArgs {
  std::string to;
  std::string cmid;  // "" = a fresh one
  std::string kind = "text";
  std::string text;  // exactly one of text and body_json
  std::string body_json;
  bool has_text = false;
  bool has_body = false;
  double deadline_s = 30;  // all retries of the send
};
int RunSend(const GlobalArgs& global, const DeviceArgs& device, const SendArgs& args);

struct ListenArgs {
  int64_t count = 0;     // 0: no limit
  double timeout_s = 0;  // 0: none
  int ack_interval_ms = 5000;
  bool signals = false;  // print signals (typing, presence) too; they count towards `count`
};
// Prints each delivered inbox entry (message or notification) as one line, flushed; state
// changes go to stderr. Ends after `count` entries, `timeout_s`, SIGINT or SIGTERM: exit 0; or
// when the session is ended (kicked), or the timeout came before `count` entries: exit 1. The
// saved cursor never passes the last printed entry, so the next listen resumes right after it.
int RunListen(const GlobalArgs& global, const DeviceArgs& device, const ListenArgs& args);

struct SyncArgs {
  int64_t after = 0;
  int limit = 100;
};
// One raw page of GET /v1/sync; it moves no cursor.
int RunSync(const GlobalArgs& global, const DeviceArgs& device, const SyncArgs& args);

struct AckArgs {
  int64_t seq = 0;
};
int RunAck(const GlobalArgs& global, const DeviceArgs& device, const AckArgs& args);

// ----- Groups (social_commands.cpp). create, show and add print the group as the server
// answers it: {group_id, name, owner, members: [{user_id, role}], created_at}.
struct GroupArgs {
  std::string group_id;            // create: "" lets the server pick one
  std::string name;                // create
  std::vector<std::string> users;  // create: the other members; add: who; remove: one user
  std::string member;              // role: whose role
  std::string role;                // role: "admin" or "member"
};
int RunGroupCreate(const GlobalArgs& global, const DeviceArgs& device, const GroupArgs& args);
int RunGroupShow(const GlobalArgs& global, const DeviceArgs& device, const GroupArgs& args);
int RunGroupAdd(const GlobalArgs& global, const DeviceArgs& device, const GroupArgs& args);
// Prints {group_id, user_id, removed: true}.
int RunGroupRemove(const GlobalArgs& global, const DeviceArgs& device, const GroupArgs& args);
// Prints {group_id, user_id, left: true}.
int RunGroupLeave(const GlobalArgs& global, const DeviceArgs& device, const GroupArgs& args);
// Prints the group after the change.
int RunGroupRole(const GlobalArgs& global, const DeviceArgs& device, const GroupArgs& args);

// ----- Friends and blocks (social_commands.cpp).
struct FriendArgs {
  std::string user;        // request, remove
  std::string note;        // request
  std::string request_id;  // accept, reject
};
int RunFriendRequest(const GlobalArgs& global, const DeviceArgs& device, const FriendArgs& args);
int RunFriendRequests(const GlobalArgs& global, const DeviceArgs& device);
int RunFriendAccept(const GlobalArgs& global, const DeviceArgs& device, const FriendArgs& args);
int RunFriendReject(const GlobalArgs& global, const DeviceArgs& device, const FriendArgs& args);
int RunFriendList(const GlobalArgs& global, const DeviceArgs& device);
int RunFriendRemove(const GlobalArgs& global, const DeviceArgs& device, const FriendArgs& args);
int RunBlock(const GlobalArgs& global, const DeviceArgs& device, const std::string& user);
int RunUnblock(const GlobalArgs& global, const DeviceArgs& device, const std::string& user);
int RunBlocks(const GlobalArgs& global, const DeviceArgs& device);

// ----- Conversations, signals and presence (conversation_commands.cpp).
struct HistoryArgs {
  std::string conv;
  int64_t before = 0;  // 0: from the newest
  int limit = 0;       // 0: the server's default
};
int RunConversations(const GlobalArgs& global, const DeviceArgs& device, int limit);
int RunHistory(const GlobalArgs& global, const DeviceArgs& device, const HistoryArgs& args);
struct ReadArgs {
  std::string conv;
  int64_t conv_seq = 0;
};
int RunRead(const GlobalArgs& global, const DeviceArgs& device, const ReadArgs& args);
int RunRecall(const GlobalArgs& global, const DeviceArgs& device, const std::string& id);
struct SignalArgs {
  std::string to;
  std::string kind;
};
int RunSignal(const GlobalArgs& global, const DeviceArgs& device, const SignalArgs& args);
int RunPresence(const GlobalArgs& global, const DeviceArgs& device,
                const std::vector<std::string>& users);

// ----- Rooms (room_commands.cpp).
struct RoomArgs {
  std::string room;
  int64_t count = 0;     // listen: 0 no limit
  double timeout_s = 0;  // listen: 0 none
};
int RunRoomJoin(const GlobalArgs& global, const DeviceArgs& device, const RoomArgs& args);
int RunRoomLeave(const GlobalArgs& global, const DeviceArgs& device, const RoomArgs& args);
// RunSend to room:<room>; `send.to` is ignored.
int RunRoomSend(const GlobalArgs& global, const DeviceArgs& device, const RoomArgs& args,
                const SendArgs& send);
// Connects without the inbox (ClientOptions::inbox false, so the device's inbox cursor is
// untouched), joins the room (again: harmless) and, once the broker confirmed the subscription
// ("courier: listening to room <room>" on stderr), prints each room message as one line, flushed.
// Ends like RunListen: after `count` messages, `timeout_s`, SIGINT or SIGTERM: exit 0; kicked,
// or the timeout before `count` messages: exit 1. Run it on a device of its own: one device id
// holds one MQTT connection, and a `listen` of the same device would take it over.
int RunRoomListen(const GlobalArgs& global, const DeviceArgs& device, const RoomArgs& args);

}  // namespace courier::client::cli
