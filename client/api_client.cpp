#include "client/api_client.h"

#include <httplib.h>
#include <pthread.h>
#include <signal.h>

#include <nlohmann/json.hpp>

namespace courier::client {

namespace {

using nlohmann::json;

// Blocks SIGPIPE in this thread for one request and swallows a SIGPIPE the request raised
// (a write to a socket the server closed is a thread-directed signal, so it waits here).
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    blocked_here_ = pthread_sigmask(SIG_BLOCK, &pipe_, &old_) == 0 && !sigismember(&old_, SIGPIPE);
  }
  ~ScopedSigpipeBlock() {
    if (!blocked_here_) return;  // the caller had it blocked: leave everything as it was
    sigset_t pending;
    sigpending(&pending);
    if (!was_pending_ && sigismember(&pending, SIGPIPE) == 1) {
      const timespec no_wait{0, 0};
      sigtimedwait(&pipe_, nullptr, &no_wait);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

 private:
  sigset_t pipe_;
  sigset_t old_;
  bool was_pending_ = false;
  bool blocked_here_ = false;
};

// Compact JSON of a request we build; strings that are not UTF-8 are replaced, not thrown on.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

bool Succeeded(const HttpAnswer& a) { return a.status >= 200 && a.status < 300; }

// OK on any 2xx, the failure's Status otherwise.
Status NoValue(const HttpAnswer& a) { return Succeeded(a) ? Status::Ok() : StatusFromAnswer(a); }

// `parse` of the body on any 2xx, the failure's Status otherwise.
template <typename Parse>
auto Parsed(const HttpAnswer& a, Parse parse) -> decltype(parse(std::string_view())) {
  if (!Succeeded(a)) return StatusFromAnswer(a);
  return parse(a.body);
}

std::string GroupPath(const std::string& group_id) { return "/v1/groups/" + PathSegment(group_id); }

}  // namespace

ApiClient::ApiClient(BaseUrl base, std::chrono::milliseconds timeout)
    : base_(std::move(base)), timeout_(timeout) {}

HttpAnswer ApiClient::Request(const std::string& method, const std::string& path_and_query,
                              const std::string& body, const std::string& token,
                              std::chrono::milliseconds timeout) const {
  if (timeout.count() <= 0) timeout = timeout_;
  httplib::Client http(base_.host, base_.port);
  http.set_keep_alive(false);
  http.set_tcp_nodelay(true);
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(timeout);
  const auto usecs = std::chrono::duration_cast<std::chrono::microseconds>(timeout - secs);
  http.set_connection_timeout(secs.count(), usecs.count());
  http.set_read_timeout(secs.count(), usecs.count());
  http.set_write_timeout(secs.count(), usecs.count());

  httplib::Request req;
  req.method = method;
  req.path = base_.path_prefix + path_and_query;
  req.headers.emplace("Accept", "application/json");
  if (!token.empty()) req.headers.emplace("Authorization", "Bearer " + token);
  if (!body.empty()) {
    req.body = body;
    req.headers.emplace("Content-Type", "application/json");
  }

  HttpAnswer answer;
  ScopedSigpipeBlock no_sigpipe;
  httplib::Result res = http.send(req);
  if (!res) {
    answer.error = httplib::to_string(res.error()) + " (" + base_.host + ":" +
                   std::to_string(base_.port) + ")";
    return answer;
  }
  answer.status = res->status;
  answer.body = std::move(res->body);
  answer.retry_after = res->get_header_value("Retry-After");
  return answer;
}

Status ApiClient::Register(const std::string& user_id, const std::string& password,
                           const std::string& display_name) const {
  json body = {{"user_id", user_id}, {"password", password}};
  if (!display_name.empty()) body["display_name"] = display_name;
  HttpAnswer a = Request("POST", "/v1/users", Dump(body));
  if (a.status == 201) return Status::Ok();
  return StatusFromAnswer(a);
}

Result<LoginInfo> ApiClient::Login(const std::string& user_id, const std::string& password,
                                   const std::string& device_id,
                                   const std::string& platform) const {
  json body = {{"user_id", user_id}, {"password", password}, {"device_id", device_id}};
  if (!platform.empty()) body["platform"] = platform;
  HttpAnswer a = Request("POST", "/v1/sessions", Dump(body));
  if (a.status != 200) return StatusFromAnswer(a);
  return ParseLoginAnswer(a.body);
}

Result<json> ApiClient::MqttBlock(const std::string& token) const {
  HttpAnswer a = Request("GET", "/v1/mqtt", "", token);
  if (a.status != 200) return StatusFromAnswer(a);
  return ParseMqttAnswer(a.body);
}

Status ApiClient::Logout(const std::string& token) const {
  HttpAnswer a = Request("DELETE", "/v1/sessions/current", "", token);
  if (a.status == 204) return Status::Ok();
  return StatusFromAnswer(a);
}

Result<SyncPage> ApiClient::Sync(const std::string& token, int64_t after, int limit) const {
  HttpAnswer a =
      Request("GET", "/v1/sync?after=" + std::to_string(after) + "&limit=" + std::to_string(limit),
              "", token);
  if (a.status != 200) return StatusFromAnswer(a);
  return ParseSyncPage(a.body);
}

Result<AckAnswer> ApiClient::Ack(const std::string& token, int64_t seq) const {
  HttpAnswer a = Request("POST", "/v1/acks", Dump(json{{"seq", seq}}), token);
  if (a.status != 200) return StatusFromAnswer(a);
  return ParseAckAnswer(a.body);
}

Result<Group> ApiClient::CreateGroup(const std::string& token, const std::string& group_id,
                                     const std::string& name,
                                     const std::vector<std::string>& members) const {
  return Parsed(Request("POST", "/v1/groups", EncodeCreateGroup(group_id, name, members), token),
                ParseGroup);
}

Result<Group> ApiClient::GetGroup(const std::string& token, const std::string& group_id) const {
  return Parsed(Request("GET", GroupPath(group_id), "", token), ParseGroup);
}

Result<Group> ApiClient::AddGroupMembers(const std::string& token, const std::string& group_id,
                                         const std::vector<std::string>& user_ids) const {
  return Parsed(
      Request("POST", GroupPath(group_id) + "/members", EncodeAddMembers(user_ids), token),
      ParseGroup);
}

Status ApiClient::RemoveGroupMember(const std::string& token, const std::string& group_id,
                                    const std::string& user_id) const {
  return NoValue(
      Request("DELETE", GroupPath(group_id) + "/members/" + PathSegment(user_id), "", token));
}

Result<Group> ApiClient::SetGroupRole(const std::string& token, const std::string& group_id,
                                      const std::string& user_id, const std::string& role) const {
  return Parsed(Request("PATCH", GroupPath(group_id) + "/members/" + PathSegment(user_id),
                        EncodeSetRole(role), token),
                ParseGroup);
}

Result<std::string> ApiClient::RequestFriend(const std::string& token, const std::string& to,
                                             const std::string& note) const {
  return Parsed(Request("POST", "/v1/friends/requests", EncodeFriendRequest(to, note), token),
                ParseFriendRequestId);
}

Result<std::vector<FriendRequest>> ApiClient::FriendRequests(const std::string& token) const {
  return Parsed(Request("GET", "/v1/friends/requests", "", token), ParseFriendRequests);
}

Status ApiClient::AnswerFriendRequest(const std::string& token, const std::string& request_id,
                                      bool accept) const {
  return NoValue(Request(
      "POST", "/v1/friends/requests/" + PathSegment(request_id) + (accept ? "/accept" : "/reject"),
      "", token));
}

Result<std::vector<Friend>> ApiClient::Friends(const std::string& token) const {
  return Parsed(Request("GET", "/v1/friends", "", token), ParseFriends);
}

Status ApiClient::RemoveFriend(const std::string& token, const std::string& user_id) const {
  return NoValue(Request("DELETE", "/v1/friends/" + PathSegment(user_id), "", token));
}

Status ApiClient::Block(const std::string& token, const std::string& user_id) const {
  return NoValue(Request("POST", "/v1/blocks", EncodeBlock(user_id), token));
}

Status ApiClient::Unblock(const std::string& token, const std::string& user_id) const {
  return NoValue(Request("DELETE", "/v1/blocks/" + PathSegment(user_id), "", token));
}

Result<std::vector<std::string>> ApiClient::Blocks(const std::string& token) const {
  return Parsed(Request("GET", "/v1/blocks", "", token), ParseBlocks);
}

Result<std::string> ApiClient::JoinRoom(const std::string& token,
                                        const std::string& room_id) const {
  return Parsed(Request("POST", "/v1/rooms/" + PathSegment(room_id) + "/join", "", token),
                ParseRoomJoinAnswer);
}

Status ApiClient::LeaveRoom(const std::string& token, const std::string& room_id) const {
  return NoValue(Request("POST", "/v1/rooms/" + PathSegment(room_id) + "/leave", "", token));
}

Result<std::vector<ConversationSummary>> ApiClient::Conversations(const std::string& token,
                                                                  int limit) const {
  return Parsed(Request("GET", ConversationsPath(limit), "", token), ParseConversations);
}

Result<MessagePage> ApiClient::History(const std::string& token, const std::string& conv,
                                       int64_t before, int limit) const {
  return Parsed(Request("GET", HistoryPath(conv, before, limit), "", token), ParseMessagePage);
}

Status ApiClient::MarkRead(const std::string& token, const std::string& conv,
                           int64_t conv_seq) const {
  return NoValue(Request("POST", "/v1/conversations/" + PathSegment(conv) + "/read",
                         EncodeReadMark(conv_seq), token));
}

Status ApiClient::Recall(const std::string& token, const std::string& message_id) const {
  return NoValue(Request("DELETE", "/v1/messages/" + PathSegment(message_id), "", token));
}

Status ApiClient::SendSignal(const std::string& token, const std::string& to,
                             const std::string& kind) const {
  return NoValue(Request("POST", "/v1/signals", EncodeSignal(to, kind), token));
}

Result<std::map<std::string, Presence>> ApiClient::GetPresence(
    const std::string& token, const std::vector<std::string>& users) const {
  return Parsed(Request("GET", PresencePath(users), "", token), ParsePresence);
}

}  // namespace courier::client
