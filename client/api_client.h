// ApiClient: the HTTP requests of the SDK and the CLI (SPEC §3), over cpp-httplib.
//
//   ApiClient api(*ParseBaseUrl("http://127.0.0.1:8080"), std::chrono::seconds(5));
//   Result<LoginInfo> login = api.Login("alice", "secret", "phone", "cli");
//   Result<SyncPage> page = api.Sync(login->token, /*after=*/0, /*limit=*/100);
//
// Every request opens a connection of its own and closes it when answered. The uplink serves
// a keep-alive connection with one of its worker threads for as long as it stays open, so an SDK
// that kept connections (one per device for acks, more for sends) would pin the uplink's
// threads; a loopback or LAN handshake costs far less than that.
//
// SIGPIPE: cpp-httplib writes without MSG_NOSIGNAL. Each request blocks SIGPIPE in the calling
// thread and discards one it raised, so a connection the server closed mid-request fails the
// request with EPIPE instead of killing the app; the process's own disposition is untouched.
//
// Thread-safety: thread-safe (const methods, no shared connection); requests from several
// threads run concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "client/api_codec.h"
#include "client/api_types.h"
#include "common/status.h"

namespace courier::client {

class ApiClient {
 public:
  // `timeout` bounds connecting, sending and reading of one request, unless a call gives its own.
  ApiClient(BaseUrl base, std::chrono::milliseconds timeout);

  // One exchange: `method` on base path prefix + `path_and_query`, with `body` (sent as
  // application/json when not empty) and, if `token` is not empty, "Authorization: Bearer".
  // Never fails: a transport failure is an answer with status 0. A zero `timeout` means the
  // client's.
  HttpAnswer Request(const std::string& method, const std::string& path_and_query,
                     const std::string& body = "", const std::string& token = "",
                     std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) const;

  // POST /v1/users. OK on 201; the server's error otherwise (Conflict if the id is taken).
  Status Register(const std::string& user_id, const std::string& password,
                  const std::string& display_name) const;
  // POST /v1/sessions. The answer on 200; Unauthorized for a wrong user or password.
  Result<LoginInfo> Login(const std::string& user_id, const std::string& password,
                          const std::string& device_id, const std::string& platform) const;
  // DELETE /v1/sessions/current. OK on 204.
  Status Logout(const std::string& token) const;
  // GET /v1/mqtt: where this session's device connects now (the login answer's mqtt block, for
  // the broker the user is assigned to today). Unauthorized once the session ended.
  Result<nlohmann::json> MqttBlock(const std::string& token) const;
  // GET /v1/sync?after=&limit=. The page on 200.
  Result<SyncPage> Sync(const std::string& token, int64_t after, int limit) const;
  // POST /v1/acks {seq}. The answer on 200.
  Result<AckAnswer> Ack(const std::string& token, int64_t seq) const;

  // The rest of SPEC §3, one request each. Any 2xx is success (the answer's value, parsed by
  // api_codec.h); otherwise StatusFromAnswer. Ids in paths are escaped with PathSegment.
  Result<Group> CreateGroup(const std::string& token, const std::string& group_id,
                            const std::string& name, const std::vector<std::string>& members) const;
  Result<Group> GetGroup(const std::string& token, const std::string& group_id) const;
  Result<Group> AddGroupMembers(const std::string& token, const std::string& group_id,
                                const std::vector<std::string>& user_ids) const;
  Status RemoveGroupMember(const std::string& token, const std::string& group_id,
                           const std::string& user_id) const;
  Result<Group> SetGroupRole(const std::string& token, const std::string& group_id,
                             const std::string& user_id, const std::string& role) const;
  Result<std::string> RequestFriend(const std::string& token, const std::string& to,
                                    const std::string& note) const;
  Result<std::vector<FriendRequest>> FriendRequests(const std::string& token) const;
  // POST /v1/friends/requests/{id}/accept, or /reject when `accept` is false.
  Status AnswerFriendRequest(const std::string& token, const std::string& request_id,
                             bool accept) const;
  Result<std::vector<Friend>> Friends(const std::string& token) const;
  Status RemoveFriend(const std::string& token, const std::string& user_id) const;
  Status Block(const std::string& token, const std::string& user_id) const;
  Status Unblock(const std::string& token, const std::string& user_id) const;
  Result<std::vector<std::string>> Blocks(const std::string& token) const;
  // The room's topic as the answer names it; "" if it names none.
  Result<std::string> JoinRoom(const std::string& token, const std::string& room_id) const;
  Status LeaveRoom(const std::string& token, const std::string& room_id) const;
  Result<std::vector<ConversationSummary>> Conversations(const std::string& token, int limit) const;
  Result<MessagePage> History(const std::string& token, const std::string& conv, int64_t before,
                              int limit) const;
  Status MarkRead(const std::string& token, const std::string& conv, int64_t conv_seq) const;
  Status Recall(const std::string& token, const std::string& message_id) const;
  Status SendSignal(const std::string& token, const std::string& to, const std::string& kind) const;
  Result<std::map<std::string, Presence>> GetPresence(const std::string& token,
                                                      const std::vector<std::string>& users) const;

  std::chrono::milliseconds timeout() const { return timeout_; }

 private:
  BaseUrl base_;
  std::chrono::milliseconds timeout_;
};

}  // namespace courier::client
