// The Courier client SDK: one object per logged-in device, keeping SPEC §5's promises for the
// app: every inbox entry delivered exactly once, in seq order, across disconnects, pushes lost
// or repeated, server restarts and app restarts; sends that are never duplicated by retries.
//
//   courier::client::ClientOptions options;                  // base_url defaults to local
//   options.state_dir = "/var/app";                          // keeps the cursor on disk
//   courier::client::Client c(options);
//   c.on_message = [](const nlohmann::json& env) { ... };   // set callbacks before Login()
//   auto s = c.Login("alice", "secret", "phone");              // HTTP login
//   c.Start();                                                 // MQTT, subscribe, sync, acks
//   auto sent = c.Send("user:bob", {{"text", "hi"}});          // retried with one cmid
//   c.JoinRoom("lobby");                                       // then on_room_message
//   c.Stop();
//
// Threading: every public method may be called from any thread, also from a callback (but
// set_cursor_store() only before Start()); the HTTP calls (Send, the groups, friends, rooms and
// conversation calls) block the caller for their request. Every callback runs on the client's one
// event thread, one at a time, in order; a callback must not block for long. A callback may call
// Stop(): the loop ends once the callback returns. Once Stop() is called (from anywhere), no
// further entry is delivered, and the saved cursor is the last entry that was, so the next
// Start() resumes right after it. The client is not copyable; do not destroy it from one of its
// callbacks. The destructor stops it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "client/api_types.h"
#include "client/backoff.h"
#include "client/cursor_store.h"
#include "common/status.h"

namespace courier::client {

struct ClientOptions {
  std::string base_url = "http://127.0.0.1:8080";  // the uplink
  // Where the default cursor file lives (`<state_dir>/<user>.<device>.cursor`); empty keeps the
  // cursor in memory only (a restarted app then resyncs its inbox from the start).
  std::string state_dir;
  std::chrono::milliseconds request_timeout{5000};  // one HTTP request
  std::chrono::milliseconds send_deadline{30000};   // all attempts of one Send
  std::chrono::milliseconds ack_interval{5000};     // how often the device acks (and checks)
  int mqtt_keepalive_s = 30;
  int sync_page_limit = 500;
  // MQTT reconnects and sync retries. Send retries use their own, shorter delays: from 100 ms,
  // at most min(reconnect.max, 2 s), with this factor and jitter.
  BackoffPolicy reconnect;
  // Overrides the broker address of the login answer (e.g. behind NAT); empty: use it.
  std::string mqtt_host_override;
  int mqtt_port_override = 0;
  // false: a rooms-only client (say, a chat view beside a live stream, on its own device id):
  // it neither subscribes to, syncs nor acks the inbox, and leaves its cursor alone; it is kLive
  // once connected. Default true.
  bool inbox = true;
};

enum class ConnectionState {
  kConnecting,    // MQTT connecting or reconnecting (after a backoff delay)
  kSyncing,       // connected and subscribed; catching up through /v1/sync
  kLive,          // caught up; pushes are delivered as they arrive
  kDisconnected,  // the connection dropped; a reconnect is scheduled
  kKicked,        // the session ended (logout, or a login elsewhere): no more reconnects
  kStopped,
};
const char* ToString(ConnectionState s);

class Client {
 public:
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Inbox entries of type "message", exactly once, in seq order.
  std::function<void(const nlohmann::json& envelope)> on_message;
  // Inbox entries of type "notification", in the same single seq order as messages.
  std::function<void(const nlohmann::json& envelope)> on_notification;
  // Signals ({"type":"signal"}, no seq: typing, presence): delivered as they arrive, never stored
  // or repeated; one lost while disconnected is not sent again.
  std::function<void(const nlohmann::json& envelope)> on_signal;
  // Messages of joined rooms (conv "r:<room_id>"), in arrival order. Not in the inbox: a message
  // sent while the device is disconnected is not delivered later (read the room's history). One
  // whose room_seq is not above the last delivered for its room (a repeat) is dropped.
  std::function<void(const nlohmann::json& envelope)> on_room_message;
  // Control events on the device topic (e.g. session.kicked, broker.moved).
  std::function<void(const nlohmann::json& envelope)> on_control;
  std::function<void(ConnectionState state, const std::string& detail)> on_state;
  // The server lost this inbox's state (new epoch): the app's copy of the inbox is void and
  // is delivered again from seq 1 of the new epoch.
  std::function<void(const std::string& new_epoch)> on_reset;

  // POST /v1/users. Conflict if the id is taken.
  Status Register(const std::string& user_id, const std::string& password,
                  const std::string& display_name = "");
  // POST /v1/sessions; keeps the token for every later call.
  Result<LoginInfo> Login(const std::string& user_id, const std::string& password,
                          const std::string& device_id, const std::string& platform = "cli");
  // Uses a session an earlier Login() returned (e.g. saved by an app or the CLI across process
  // restarts) instead of logging in again. InvalidField if it lacks a token or a complete mqtt
  // block. A session that has ended shows as kKicked after Start() (or 401 from a send).
  Status UseSession(const LoginInfo& session);
  // Starts the event thread: connect MQTT, subscribe to the inbox and device topics, then
  // sync to the end (SPEC §5 order), deliver, ack every ack_interval, reconnect with backoff.
  // Errors: Unauthorized without a session, Conflict if already started, the cursor store's
  // error if the saved cursor cannot be read. REQUIRES: Login() or UseSession() succeeded.
  // A stopped client may be started again (after a kick, log in first).
  Status Start();
  // Stops the event thread and disconnects; saves the cursor; the state becomes kStopped (a
  // kick was reported before, as kKicked). Idempotent.
  void Stop();
  // DELETE /v1/sessions/current, then Stop().
  Status Logout();

  // Sends with a fresh cmid; retried on timeouts, 5xx, 429 and connection errors with the
  // same cmid until options.send_deadline. 4xx other than 429 fail at once.
  Result<SendResult> Send(const std::string& to, const nlohmann::json& body,
                          const std::string& kind = "text");
  // The same with the caller's cmid (an app retrying across its own restarts).
  Result<SendResult> SendWithCmid(const std::string& to, const std::string& cmid,
                                  const nlohmann::json& body, const std::string& kind = "text");

  // ----- Groups, friends, blocks, conversations, signals and presence (SPEC §3). One HTTP
  // request each, on the caller's thread, never retried: no answer is Unavailable (repeat the
  // call if that is safe). Failures carry the server's code (NotMember, Forbidden, NotFound,
  // Conflict, Blocked, ...); Unauthorized before Login() or UseSession(). What these change
  // reaches the users concerned as inbox notifications (on_notification).

  // POST /v1/groups: the caller is the owner; `members` are added too. An empty `group_id` lets
  // the server pick one; Conflict if it is taken.
  Result<Group> CreateGroup(const std::string& name, const std::vector<std::string>& members,
                            const std::string& group_id = "");
  // GET /v1/groups/{gid}: members only (NotMember otherwise).
  Result<Group> GetGroup(const std::string& group_id);
  // POST /v1/groups/{gid}/members (owner and admins): the group after the change.
  Result<Group> AddGroupMembers(const std::string& group_id,
                                const std::vector<std::string>& user_ids);
  // DELETE /v1/groups/{gid}/members/{uid}: the owner removes a member.
  Status RemoveGroupMember(const std::string& group_id, const std::string& user_id);
  // The caller leaves the group (RemoveGroupMember of themself).
  Status LeaveGroup(const std::string& group_id);
  // PATCH /v1/groups/{gid}/members/{uid}: the owner makes a member "admin" or "member" again;
  // the group after the change.
  Result<Group> SetGroupRole(const std::string& group_id, const std::string& user_id,
                             const std::string& role);

  // POST /v1/friends/requests: the request id; `user_id` gets a friend.request notification.
  Result<std::string> RequestFriend(const std::string& user_id, const std::string& note = "");
  // GET /v1/friends/requests: the pending requests to the caller.
  Result<std::vector<FriendRequest>> FriendRequests();
  // POST /v1/friends/requests/{id}/accept or /reject (the target only; NotFound otherwise).
  Status AcceptFriendRequest(const std::string& request_id);
  Status RejectFriendRequest(const std::string& request_id);
  Result<std::vector<Friend>> Friends();
  Status RemoveFriend(const std::string& user_id);

  // POST /v1/blocks, DELETE /v1/blocks/{uid}, GET /v1/blocks (user ids).
  Status Block(const std::string& user_id);
  Status Unblock(const std::string& user_id);
  Result<std::vector<std::string>> Blocks();

  // GET /v1/conversations: newest activity first; `limit` 0 is the server's default.
  Result<std::vector<ConversationSummary>> Conversations(int limit = 0);
  // GET /v1/conversations/{conv}/messages: newest first, older than conv_seq `before` (0: from
  // the newest); `limit` 0 is the server's default. Members only.
  Result<MessagePage> History(const std::string& conv, int64_t before = 0, int limit = 0);
  // POST /v1/conversations/{conv}/read: everything up to conv_seq is read (receipt.read to the
  // other members).
  Status MarkRead(const std::string& conv, int64_t conv_seq);
  // DELETE /v1/messages/{id}: the sender recalls a message within the recall window.
  Status Recall(const std::string& message_id);
  // POST /v1/signals: `to` is user:<id> or group:<id>, `kind` e.g. "typing". Pushed once to
  // those online, never stored.
  Status SendSignal(const std::string& to, const std::string& kind);
  // GET /v1/presence?users=...: by user id.
  Result<std::map<std::string, Presence>> GetPresence(const std::vector<std::string>& users);

  // ----- Rooms. A joined room's messages go to on_room_message.

  // POST /v1/rooms/{rid}/join, then subscribes to the room's topic on the event thread, and
  // again after every reconnect. If the client is running and connected, returns once the
  // broker confirmed the subscription, so every room message sent after it returns is
  // delivered (while connected); otherwise the subscription is made when it connects. The
  // server's error, or Forbidden if the broker refused the subscription (the room is then not
  // joined here). Joining a joined room is harmless.
  Status JoinRoom(const std::string& room_id);
  // POST /v1/rooms/{rid}/leave, then unsubscribes. Once it returns OK, no further message of the
  // room is delivered. A room the server says the caller is not in (NotMember, NotFound) is
  // forgotten here too, and the error returned.
  Status LeaveRoom(const std::string& room_id);
  // The rooms joined through this client, sorted.
  std::vector<std::string> rooms() const;

  // The cursor: last delivered seq and epoch (thread-safe snapshot; the stored one from Start()
  // on, {"", 0} before).
  Cursor cursor() const;
  // kStopped before Start() and after Stop().
  ConnectionState state() const;
  // "host:port" of the broker the client is connected to (kSyncing, kLive); "" otherwise. With
  // several brokers, the one the uplink assigns the user: a broker.moved event on the device
  // topic, or a refused connect, makes the client ask the uplink again (GET /v1/mqtt),
  // reconnect there, subscribe and sync.
  std::string connected_broker() const;

  // Replaces the cursor store (before Start()); the default follows options.state_dir.
  void set_cursor_store(std::unique_ptr<CursorStore> store);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// A fresh client message id: 32 hex characters of randomness.
std::string NewCmid();

}  // namespace courier::client
