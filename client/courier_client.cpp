// Client: the SDK's event thread (one loop that owns the MQTT link, the sequencer, the cursor
// store and the sync/ack requests) and the thread-safe HTTP calls around it.
//
// The loop, each turn: handle what was posted (pushes and a lost connection from the MQTT link,
// changes of the joined rooms from JoinRoom/LeaveRoom); then do the one piece of work that is due,
// in this order of precedence — connect (when not connected, after the reconnect backoff), sync one
// page (when the sequencer asked for it, after the sync backoff), ack (every ack_interval once
// caught up); else sleep until the next deadline or the next event. Every blocking call is bounded
// by request_timeout, so Stop() is answered within about that.
#include "client/courier_client.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "client/api_client.h"
#include "client/api_codec.h"
#include "client/event_queue.h"
#include "client/inbox_sequencer.h"
#include "client/mqtt_link.h"
#include "client/room_filter.h"
#include "common/ids.h"

namespace courier::client {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// What the MQTT link (kMessage, kLost) and JoinRoom/LeaveRoom (kRooms) hand to the event thread.
struct LinkEvent {
  enum class Kind { kMessage, kLost, kRooms };
  Kind kind = Kind::kMessage;
  uint64_t generation = 0;  // which connection it came from
  std::string topic;        // kMessage
  std::string payload;      // kMessage: the payload; kLost: the cause
  // kRooms: the joined rooms changed; subscribe and unsubscribe to match, then set `done` to the
  // outcome for `room` (set on every path, also when the loop ends without handling it).
  std::string room;
  std::shared_ptr<std::promise<Status>> done;
};

void Complete(LinkEvent& event, Status status) {
  if (event.done) event.done->set_value(std::move(status));
  event.done.reset();
}

// Send retries start small (a restarted uplink is back in well under a second) and stay short,
// so a send finds the uplink soon after it returns.
BackoffPolicy SendRetryPolicy(const BackoffPolicy& reconnect) {
  return BackoffPolicy{milliseconds(100), std::min(reconnect.max, milliseconds(2000)),
                       std::max(reconnect.factor, 1.0), reconnect.jitter};
}

std::string Ms(milliseconds d) { return std::to_string(d.count()) + " ms"; }

milliseconds Until(Clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(t - Clock::now());
}

// The same code, the message with `suffix` appended.
Status WithSuffix(const Status& s, const std::string& suffix) {
  return StatusFromCodeName(s.code_name(), s.message() + suffix, s.retry_after_s());
}

// Runs an app callback; one that throws is logged, and the entry counts as delivered.
template <typename Callback, typename... Args>
void Invoke(const char* name, const Callback& callback, const Args&... args) {
  if (!callback) return;
  try {
    callback(args...);
  } catch (const std::exception& e) {
    spdlog::error("courier client: the {} callback threw: {}", name, e.what());
  } catch (...) {
    spdlog::error("courier client: the {} callback threw", name);
  }
}

}  // namespace

const char* ToString(ConnectionState s) {
  switch (s) {
    case ConnectionState::kConnecting:
      return "connecting";
    case ConnectionState::kSyncing:
      return "syncing";
    case ConnectionState::kLive:
      return "live";
    case ConnectionState::kDisconnected:
      return "disconnected";
    case ConnectionState::kKicked:
      return "kicked";
    case ConnectionState::kStopped:
      return "stopped";
  }
  return "unknown";
}

std::string NewCmid() {
  std::random_device rd;
  auto draw64 = [&rd] { return (static_cast<uint64_t>(rd()) << 32) | rd(); };
  char text[33];
  std::snprintf(text, sizeof text, "%016llx%016llx", static_cast<unsigned long long>(draw64()),
                static_cast<unsigned long long>(draw64()));
  return text;
}

class Client::Impl {
 public:
  Impl(Client* owner, ClientOptions options);

  Status Register(const std::string& user_id, const std::string& password,
                  const std::string& display_name);
  Result<LoginInfo> Login(const std::string& user_id, const std::string& password,
                          const std::string& device_id, const std::string& platform);
  Status UseSession(const LoginInfo& session);
  Status Start();
  void Stop();
  Status Logout();
  Result<SendResult> SendWithCmid(const std::string& to, const std::string& cmid, const json& body,
                                  const std::string& kind);
  Cursor cursor() const;
  ConnectionState state() const;
  std::string connected_broker() const;
  void set_cursor_store(std::unique_ptr<CursorStore> store);

  // Runs call(api, token) for a plain HTTP call of the app: the base url's error, or
  // Unauthorized without a session.
  template <typename Call>
  auto WithSession(Call call) -> decltype(call(std::declval<const ApiClient&>(), std::string())) {
    if (!api_) return base_url_status_;
    std::string token = CurrentToken();
    if (token.empty()) return Status::Unauthorized("not logged in: call Login() first");
    return call(*api_, token);
  }
  std::string CurrentUser() const;

  Status JoinRoom(const std::string& room_id);
  Status LeaveRoom(const std::string& room_id);
  std::vector<std::string> rooms() const;

 private:
  std::string CurrentToken() const;
  // Has the event thread bring the subscriptions in line with rooms_, and waits for it: the
  // outcome for `room`. OK at once when the client is not running (it subscribes on connect).
  Status ApplyRoomsChange(const std::string& room);

  // ----- The event thread.
  void RunLoop();
  void HandleEventsInLoop();
  void HandlePushInLoop(const std::string& topic, const std::string& payload);
  void HandleRoomPushInLoop(const std::string& room, const json& envelope);
  // Subscribes to the joined rooms not yet subscribed on this connection, and unsubscribes from
  // those left. The outcome for `room`: Forbidden if the broker refused it; OK otherwise (also
  // when not connected, or when the connection failed and a reconnect will subscribe again).
  // The rooms the broker refused are added to `refused` if it is given.
  Status SyncRoomSubscriptionsInLoop(const std::string& room,
                                     std::vector<std::string>* refused = nullptr);
  void ConnectInLoop();
  void OnConnectionLostInLoop(const std::string& cause);
  // Where the device connects now, asked of the uplink (GET /v1/mqtt) after a broker.moved
  // event or a refused CONNECT; the answer replaces the session's mqtt block.
  enum class Relocation {
    kMoved,    // another broker than before: connect there
    kSame,     // the same broker
    kEnded,    // the session has ended (401)
    kUnknown,  // no answer (the uplink is down): retry later
  };
  Relocation RelocateInLoop();
  // The broker.moved event: leave this broker now and connect to the new one at once (then
  // subscribe and sync, as after any reconnect, so nothing is missed).
  void MoveBrokerInLoop(const json& event);
  void SyncPageInLoop();
  void AckInLoop();
  // Delivers a step's entries, saves the cursor, reports a reset, and notes a sync request.
  // A step from a sync page says whether the sync goes on; any other step can only ask for one.
  void ApplyStepInLoop(const InboxSequencer::Step& step, bool from_sync);
  void RequestSyncInLoop();
  void SaveCursorInLoop();
  void KickInLoop(const std::string& detail);
  void ShutdownInLoop();
  void SetStateInLoop(ConnectionState state, const std::string& detail);

  Client* const owner_;  // its callbacks; set before Start() and read by the event thread only
  const ClientOptions options_;
  Status base_url_status_;
  std::optional<ApiClient> api_;  // empty when base_url is malformed (base_url_status_ says why)

  mutable std::mutex mu_;
  std::optional<LoginInfo> session_;                   // GUARDED_BY(mu_)
  ConnectionState state_ = ConnectionState::kStopped;  // GUARDED_BY(mu_)
  std::string connected_broker_;                       // GUARDED_BY(mu_): "host:port" or ""
  Cursor cursor_;                                      // GUARDED_BY(mu_): the last saved view
  std::map<std::string, std::string> rooms_;           // GUARDED_BY(mu_): joined room -> topic

  std::mutex lifecycle_mu_;             // serializes Start, Stop and set_cursor_store
  std::thread thread_;                  // GUARDED_BY(lifecycle_mu_)
  std::unique_ptr<CursorStore> store_;  // GUARDED_BY(lifecycle_mu_) while stopped; the loop's
  std::string default_store_key_;       // "<user>.<device>" of a store made here; "" if the app's
  std::atomic<std::thread::id> loop_thread_id_{};
  EventQueue<LinkEvent> queue_;

  // ----- Owned by the event thread while it runs (set up by Start() before it starts).
  LoginInfo loop_session_;
  std::string inbox_topic_;
  std::string device_topic_;
  std::unique_ptr<InboxSequencer> sequencer_;
  std::unique_ptr<MqttLink> link_;
  std::string link_broker_;  // "host:port" of link_
  // Connects in a row that found no broker (not a refusal); every kAskAfterUnreachable-th one
  // asks the uplink whether the device belongs elsewhere now.
  static constexpr int kAskAfterUnreachable = 3;
  int unreachable_connects_ = 0;
  std::map<std::string, std::string> room_topics_;  // topic -> room, subscribed on link_
  RoomSeqFilter room_filter_;                       // kept across reconnects and restarts
  uint64_t generation_ = 0;
  bool connected_ = false;
  bool caught_up_ = false;  // since this connection's first sync ended
  bool kicked_ = false;
  bool need_sync_ = false;
  Cursor saved_;
  // Where delivery stopped when Stop() cut a batch short; the sequencer is ahead of it.
  std::optional<Cursor> stopped_at_;
  Backoff reconnect_backoff_;
  Backoff sync_backoff_;
  Clock::time_point next_connect_at_;
  Clock::time_point next_sync_at_;
  Clock::time_point next_ack_at_;
};

Client::Impl::Impl(Client* owner, ClientOptions options)
    : owner_(owner),
      options_(std::move(options)),
      reconnect_backoff_(options_.reconnect),
      sync_backoff_(options_.reconnect) {
  Result<BaseUrl> base = ParseBaseUrl(options_.base_url);
  if (base.ok()) {
    api_.emplace(*base, options_.request_timeout);
  } else {
    base_url_status_ = base.status();
  }
}

std::string Client::Impl::CurrentToken() const {
  std::lock_guard<std::mutex> lock(mu_);
  return session_ ? session_->token : std::string();
}

std::string Client::Impl::CurrentUser() const {
  std::lock_guard<std::mutex> lock(mu_);
  return session_ ? session_->user_id : std::string();
}

Status Client::Impl::Register(const std::string& user_id, const std::string& password,
                              const std::string& display_name) {
  if (!api_) return base_url_status_;
  return api_->Register(user_id, password, display_name);
}

Result<LoginInfo> Client::Impl::Login(const std::string& user_id, const std::string& password,
                                      const std::string& device_id, const std::string& platform) {
  if (!api_) return base_url_status_;
  Result<LoginInfo> login = api_->Login(user_id, password, device_id, platform);
  if (login.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    if (session_ && session_->user_id != login->user_id) rooms_.clear();  // another user's
    session_ = *login;
  }
  return login;
}

Status Client::Impl::UseSession(const LoginInfo& session) {
  Result<LoginInfo> checked = ParseLoginAnswer(LoginInfoToJson(session).dump());
  if (!checked.ok()) return checked.status();
  std::lock_guard<std::mutex> lock(mu_);
  if (session_ && session_->user_id != checked->user_id) rooms_.clear();  // another user's
  session_ = std::move(checked).value();
  return Status::Ok();
}

Status Client::Impl::Start() {
  std::lock_guard<std::mutex> life(lifecycle_mu_);
  if (thread_.joinable()) {
    if (!queue_.stop_requested()) return Status::Conflict("the client is already started");
    thread_.join();  // Stop() was called from a callback: the loop has ended or is ending
  }
  if (!api_) return base_url_status_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!session_) return Status::Unauthorized("Start() needs a session: call Login() first");
    loop_session_ = *session_;
  }
  std::string key = loop_session_.user_id + "." + loop_session_.device_id;
  if (!store_ || (!default_store_key_.empty() && default_store_key_ != key)) {
    if (options_.state_dir.empty()) {
      store_ = std::make_unique<MemoryCursorStore>();
    } else {
      store_ = std::make_unique<FileCursorStore>(options_.state_dir, loop_session_.user_id,
                                                 loop_session_.device_id);
    }
    default_store_key_ = key;
  }
  Result<Cursor> loaded = store_->Load();
  if (!loaded.ok()) return loaded.status();

  inbox_topic_ = StringField(loop_session_.mqtt["topics"], "inbox");
  device_topic_ = StringField(loop_session_.mqtt["topics"], "device");
  sequencer_ = std::make_unique<InboxSequencer>(loaded->last_seq, loaded->epoch);
  saved_ = *loaded;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cursor_ = *loaded;
    state_ = ConnectionState::kConnecting;  // at once: state() never says kStopped once started
  }
  connected_ = caught_up_ = kicked_ = need_sync_ = false;
  stopped_at_.reset();
  reconnect_backoff_.Reset();
  sync_backoff_.Reset();
  next_connect_at_ = Clock::now();
  queue_.Reset();
  thread_ = std::thread([this] { RunLoop(); });
  return Status::Ok();
}

void Client::Impl::Stop() {
  if (loop_thread_id_.load() == std::this_thread::get_id()) {
    queue_.RequestStop();  // from a callback: the loop ends once the callback returns
    return;
  }
  std::lock_guard<std::mutex> life(lifecycle_mu_);
  if (!thread_.joinable()) return;
  queue_.RequestStop();
  thread_.join();
}

Status Client::Impl::Logout() {
  if (!api_) return base_url_status_;
  std::string token = CurrentToken();
  if (token.empty()) return Status::Unauthorized("not logged in");
  Status s = api_->Logout(token);
  Stop();
  if (s.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    session_.reset();
  }
  return s;
}

Result<SendResult> Client::Impl::SendWithCmid(const std::string& to, const std::string& cmid,
                                              const json& body, const std::string& kind) {
  if (!api_) return base_url_status_;
  if (!IsValidCmid(cmid)) {
    return Status::InvalidField("cmid must be 1-64 characters in 0x21-0x7E");
  }
  std::string token = CurrentToken();
  if (token.empty()) return Status::Unauthorized("not logged in: call Login() first");
  std::string request;
  try {
    request = json{{"to", to}, {"cmid", cmid}, {"kind", kind}, {"body", body}}.dump();
  } catch (const json::exception& e) {
    return Status::InvalidField(std::string("body cannot be sent: ") + e.what());
  }

  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = start + options_.send_deadline;
  Backoff retry(SendRetryPolicy(options_.reconnect));
  Status last = Status::Unavailable("send_deadline left no time for a request");
  int attempts = 0;
  while (Clock::now() < deadline) {
    ++attempts;
    milliseconds timeout =
        std::min(options_.request_timeout, std::max(Until(deadline), milliseconds(1)));
    HttpAnswer answer = api_->Request("POST", "/v1/messages", request, token, timeout);
    SendVerdict verdict = ClassifySendAnswer(answer);
    if (verdict == SendVerdict::kFail) return StatusFromAnswer(answer);
    if (verdict == SendVerdict::kStored || verdict == SendVerdict::kDuplicate) {
      Result<SendResult> result = ParseSendAnswer(answer.body);
      if (result.ok()) {
        result->cmid = cmid;
        result->duplicate = verdict == SendVerdict::kDuplicate;
        result->attempts = attempts;
        return result;
      }
      // Stored, but the answer is unreadable: a retry gets the stored fields back (200).
      last = Status::Internal("unreadable send answer: " + result.status().message());
    } else {
      last = StatusFromAnswer(answer);
    }
    milliseconds delay = std::max(retry.Next(), RetryAfterOf(answer));
    if (Clock::now() + delay >= deadline) break;
    spdlog::debug("courier client: send {} attempt {} failed ({}); retrying in {}", cmid, attempts,
                  last.ToString(), Ms(delay));
    std::this_thread::sleep_for(delay);
  }
  return WithSuffix(last, " (gave up after " + std::to_string(attempts) + " attempts in " +
                              Ms(std::chrono::duration_cast<milliseconds>(Clock::now() - start)) +
                              ")");
}

Cursor Client::Impl::cursor() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cursor_;
}

ConnectionState Client::Impl::state() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

std::string Client::Impl::connected_broker() const {
  std::lock_guard<std::mutex> lock(mu_);
  return connected_broker_;
}

void Client::Impl::set_cursor_store(std::unique_ptr<CursorStore> store) {
  std::lock_guard<std::mutex> life(lifecycle_mu_);
  if (thread_.joinable()) {
    spdlog::warn("courier client: set_cursor_store() ignored: the client is running");
    return;
  }
  store_ = std::move(store);
  default_store_key_.clear();
}

Status Client::Impl::JoinRoom(const std::string& room_id) {
  if (!api_) return base_url_status_;
  std::optional<LoginInfo> session;
  {
    std::lock_guard<std::mutex> lock(mu_);
    session = session_;
  }
  if (!session) return Status::Unauthorized("not logged in: call Login() first");
  Result<std::string> topic = api_->JoinRoom(session->token, room_id);
  if (!topic.ok()) return topic.status();
  if (topic->empty()) {
    const json* topics = session->mqtt.is_object() && session->mqtt.contains("topics")
                             ? &session->mqtt["topics"]
                             : nullptr;
    topic = RoomTopic(topics ? StringField(*topics, "inbox") : std::string(), room_id);
    if (!topic.ok()) return topic.status();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    rooms_[room_id] = *topic;
  }
  Status s = ApplyRoomsChange(room_id);
  if (!s.ok()) {
    // The broker refused the room: it is not joined here (the app may try again).
    std::lock_guard<std::mutex> lock(mu_);
    auto it = rooms_.find(room_id);
    if (it != rooms_.end() && it->second == *topic) rooms_.erase(it);
  }
  return s;
}

Status Client::Impl::LeaveRoom(const std::string& room_id) {
  Status s = WithSession([&](const ApiClient& api, const std::string& token) {
    return api.LeaveRoom(token, room_id);
  });
  // Not a member as far as the server knows: nothing to keep here either.
  const bool gone =
      s.ok() || s.code() == Status::Code::kNotMember || s.code() == Status::Code::kNotFound;
  if (!gone) return s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (rooms_.erase(room_id) == 0) return s;
  }
  Status applied = ApplyRoomsChange(room_id);
  return s.ok() ? applied : s;
}

std::vector<std::string> Client::Impl::rooms() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [room, topic] : rooms_) out.push_back(room);
  return out;
}

Status Client::Impl::ApplyRoomsChange(const std::string& room) {
  if (loop_thread_id_.load() == std::this_thread::get_id()) {
    return SyncRoomSubscriptionsInLoop(room);  // from a callback
  }
  auto done = std::make_shared<std::promise<Status>>();
  std::future<Status> outcome = done->get_future();
  LinkEvent event;
  event.kind = LinkEvent::Kind::kRooms;
  event.room = room;
  event.done = std::move(done);
  // Not running: Start() subscribes to every joined room once connected.
  if (!queue_.PostIfOpen(std::move(event))) return Status::Ok();
  try {
    return outcome.get();
  } catch (const std::future_error&) {
    return Status::Ok();  // dropped unanswered (cannot happen: every path completes it)
  }
}

// ----- The event thread.

void Client::Impl::RunLoop() {
  loop_thread_id_ = std::this_thread::get_id();
  while (true) {
    HandleEventsInLoop();
    if (queue_.stop_requested()) break;
    Clock::time_point now = Clock::now();
    if (kicked_) {
      queue_.WaitUntil(now + std::chrono::seconds(60));  // nothing to do but wait for Stop()
    } else if (!connected_) {
      if (now >= next_connect_at_) {
        ConnectInLoop();
      } else {
        queue_.WaitUntil(next_connect_at_);
      }
    } else if (need_sync_ && now >= next_sync_at_) {
      SyncPageInLoop();
    } else if (!need_sync_ && now >= next_ack_at_) {
      AckInLoop();
    } else {
      queue_.WaitUntil(need_sync_ ? next_sync_at_ : next_ack_at_);
    }
  }
  ShutdownInLoop();
  // Room changes that came too late for this run: the next Start() subscribes to them.
  for (LinkEvent& event : queue_.Close()) Complete(event, Status::Ok());
  loop_thread_id_ = std::thread::id();
}

void Client::Impl::HandleEventsInLoop() {
  for (LinkEvent& event : queue_.TakeAll()) {
    // Once stopping or kicked, what is still queued is left to the next start's sync (and the
    // next start's subscriptions).
    if (kicked_ || queue_.stop_requested()) {
      Complete(event, Status::Ok());
      continue;
    }
    switch (event.kind) {
      case LinkEvent::Kind::kMessage:
        HandlePushInLoop(event.topic, event.payload);
        break;
      case LinkEvent::Kind::kLost:
        if (event.generation == generation_ && connected_) OnConnectionLostInLoop(event.payload);
        break;
      case LinkEvent::Kind::kRooms:
        Complete(event, SyncRoomSubscriptionsInLoop(event.room));
        break;
    }
  }
}

void Client::Impl::HandlePushInLoop(const std::string& topic, const std::string& payload) {
  json envelope = json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (envelope.is_discarded() || !envelope.is_object()) {
    spdlog::warn("courier client: ignored a push on {} that is not a JSON object", topic);
    return;
  }
  if (topic == inbox_topic_) {
    if (envelope.contains("seq")) {
      if (SeqOf(envelope) < 0) {
        spdlog::warn("courier client: ignored a push on {} with a malformed seq", topic);
        return;
      }
      ApplyStepInLoop(sequencer_->OnPush(envelope), /*from_sync=*/false);
    } else if (StringField(envelope, "type") == "signal") {
      Invoke("on_signal", owner_->on_signal, envelope);  // no seq: never stored, never repeated
    } else {
      spdlog::warn("courier client: ignored a push on {} with neither a seq nor type signal",
                   topic);
    }
  } else if (topic == device_topic_) {
    Invoke("on_control", owner_->on_control, envelope);
    const std::string event = StringField(envelope, "event");
    if (event == "session.kicked") {
      std::string reason = StringField(envelope, "reason");
      KickInLoop("session.kicked" + (reason.empty() ? std::string() : " (" + reason + ")"));
    } else if (event == "broker.moved") {
      MoveBrokerInLoop(envelope);
    }
  } else if (auto room = room_topics_.find(topic); room != room_topics_.end()) {
    HandleRoomPushInLoop(room->second, envelope);
  } else {
    // A room left since (LeaveRoom has returned: nothing more of it reaches the app).
    spdlog::debug("courier client: ignored a push on {}, which is not subscribed", topic);
  }
}

void Client::Impl::HandleRoomPushInLoop(const std::string& room, const json& envelope) {
  if (StringField(envelope, "type") != "message") {
    spdlog::debug("courier client: ignored a push of type \"{}\" in room {}",
                  StringField(envelope, "type"), room);
    return;
  }
  const int64_t room_seq = RoomSeqOf(envelope);
  if (room_seq < 0) {
    spdlog::warn("courier client: ignored a message in room {} without a valid room_seq", room);
    return;
  }
  if (!room_filter_.Admit(room, room_seq)) {
    spdlog::debug("courier client: dropped room {} message {} (last delivered {})", room, room_seq,
                  room_filter_.last(room));
    return;
  }
  Invoke("on_room_message", owner_->on_room_message, envelope);
}

Status Client::Impl::SyncRoomSubscriptionsInLoop(const std::string& room,
                                                 std::vector<std::string>* refused) {
  std::map<std::string, std::string> wanted;  // room -> topic
  {
    std::lock_guard<std::mutex> lock(mu_);
    wanted = rooms_;
  }
  // Rooms left are forgotten first, connected or not: their messages are dropped from now on.
  std::vector<std::string> left;
  for (auto it = room_topics_.begin(); it != room_topics_.end();) {
    auto w = wanted.find(it->second);
    if (w != wanted.end() && w->second == it->first) {
      ++it;
    } else {
      left.push_back(it->first);
      it = room_topics_.erase(it);
    }
  }
  if (!connected_ || !link_) return Status::Ok();  // ConnectInLoop subscribes to them all
  if (!left.empty()) {
    Status s = link_->Unsubscribe(left, options_.request_timeout);
    if (!s.ok()) spdlog::debug("courier client: {}", s.ToString());  // dropped here anyway
  }
  Status outcome;
  for (const auto& [joined, topic] : wanted) {
    if (room_topics_.count(topic) > 0) continue;
    Status s = link_->Subscribe({topic}, 1, options_.request_timeout);
    if (s.ok()) {
      room_topics_.emplace(topic, joined);
    } else if (s.code() == Status::Code::kForbidden) {
      if (joined == room) outcome = s;
      if (refused != nullptr) refused->push_back(joined);
      spdlog::warn("courier client: the broker refused room {}: {}", joined, s.message());
    } else {
      // No SUBACK: the connection is failing. The reconnect subscribes to every room again.
      OnConnectionLostInLoop("subscribing to room " + joined + ": " + s.message());
      return Status::Ok();
    }
  }
  return outcome;
}

void Client::Impl::ConnectInLoop() {
  const json& mqtt = loop_session_.mqtt;
  MqttLinkOptions link_options;
  link_options.host =
      options_.mqtt_host_override.empty() ? StringField(mqtt, "host") : options_.mqtt_host_override;
  link_options.port =
      options_.mqtt_port_override > 0 ? options_.mqtt_port_override : mqtt.value("port", 1883);
  link_options.client_id = StringField(mqtt, "client_id");
  link_options.username = StringField(mqtt, "username");
  link_options.password = StringField(mqtt, "password");
  link_options.keepalive = std::chrono::seconds(std::clamp(options_.mqtt_keepalive_s, 1, 60));

  const uint64_t generation = ++generation_;
  auto on_message = [this, generation](std::string topic, std::string payload) {
    queue_.Post(LinkEvent{
        LinkEvent::Kind::kMessage, generation, std::move(topic), std::move(payload), {}, nullptr});
  };
  auto on_lost = [this, generation](std::string cause) {
    queue_.Post(LinkEvent{LinkEvent::Kind::kLost, generation, {}, std::move(cause), {}, nullptr});
  };
  link_broker_ = link_options.host + ":" + std::to_string(link_options.port);
  link_ = std::make_unique<MqttLink>(std::move(link_options), on_message, on_lost);
  SetStateInLoop(ConnectionState::kConnecting, link_->uri());

  // SPEC §5: subscribed (SUBACK in hand) before the first sync, so that nothing stored while
  // the sync runs can slip between the two.
  Status s = link_->Connect(options_.request_timeout);
  if (s.ok()) {
    std::vector<std::string> topics = {device_topic_};
    if (options_.inbox) topics.insert(topics.begin(), inbox_topic_);
    s = link_->Subscribe(topics, 1, options_.request_timeout);
  }
  if (!s.ok()) {
    link_.reset();
    if (s.code() == Status::Code::kUnauthorized) {
      // Refused: the session ended, or the user is assigned to another broker now (a broker was
      // added); the uplink tells which. If it names this same broker, the uplinks and brokers do
      // not agree on the list yet: try again after the backoff.
      switch (RelocateInLoop()) {
        case Relocation::kEnded:
          KickInLoop(s.message());
          return;
        case Relocation::kMoved:
          next_connect_at_ = Clock::now();
          SetStateInLoop(ConnectionState::kDisconnected,
                         "refused by " + link_broker_ + "; the uplink names broker " +
                             StringField(loop_session_.mqtt, "host") + ":" +
                             std::to_string(loop_session_.mqtt.value("port", 0)) +
                             ": connecting there");
          return;
        case Relocation::kSame:
        case Relocation::kUnknown:
          break;
      }
    } else if (++unreachable_connects_ % kAskAfterUnreachable == 0) {
      // The broker stays unreachable: it may have been taken out of the list (its users moved
      // to the others). Ask the uplink now and then rather than wait for that broker forever.
      if (RelocateInLoop() == Relocation::kMoved) {
        next_connect_at_ = Clock::now();
        SetStateInLoop(ConnectionState::kDisconnected,
                       s.message() + "; the uplink names another broker: connecting there");
        return;
      }
    }
    milliseconds delay = reconnect_backoff_.Next();
    next_connect_at_ = Clock::now() + delay;
    SetStateInLoop(ConnectionState::kDisconnected, s.message() + "; retry in " + Ms(delay));
    return;
  }
  unreachable_connects_ = 0;
  connected_ = true;
  room_topics_.clear();  // a new connection: nothing subscribed on it yet
  std::vector<std::string> refused;
  SyncRoomSubscriptionsInLoop("", &refused);
  if (!connected_) return;  // a room's subscription failed the connection; reconnect later
  std::string rooms = std::to_string(room_topics_.size()) + " rooms";
  if (!refused.empty()) {
    rooms += " (the broker refused";
    for (const std::string& r : refused) rooms += " " + r;
    rooms += ")";
  }
  if (!options_.inbox) {
    caught_up_ = true;
    need_sync_ = false;
    reconnect_backoff_.Reset();
    next_ack_at_ = Clock::now() + std::chrono::hours(1);
    SetStateInLoop(ConnectionState::kLive, "subscribed to " + rooms + " (no inbox)");
    return;
  }
  caught_up_ = false;
  need_sync_ = true;
  sync_backoff_.Reset();
  next_sync_at_ = Clock::now();
  next_ack_at_ = Clock::now() + options_.ack_interval;
  SetStateInLoop(ConnectionState::kSyncing, "subscribed (inbox, " + rooms +
                                                "); syncing after seq " +
                                                std::to_string(sequencer_->last_seq()));
}

Client::Impl::Relocation Client::Impl::RelocateInLoop() {
  Result<json> block = api_->MqttBlock(loop_session_.token);
  if (!block.ok()) {
    if (block.status().code() == Status::Code::kUnauthorized) return Relocation::kEnded;
    spdlog::info("courier client: GET /v1/mqtt failed: {}", block.status().ToString());
    return Relocation::kUnknown;
  }
  const json& before = loop_session_.mqtt;
  const bool moved = StringField(*block, "host") != StringField(before, "host") ||
                     block->value("port", 0) != before.value("port", 0);
  loop_session_.mqtt = *block;
  {
    // Kept for the next Start() as well, unless the app logged in again meanwhile.
    std::lock_guard<std::mutex> lock(mu_);
    if (session_ && session_->token == loop_session_.token) session_->mqtt = *block;
  }
  return moved ? Relocation::kMoved : Relocation::kSame;
}

void Client::Impl::MoveBrokerInLoop(const json& event) {
  Relocation where = RelocateInLoop();
  if (where == Relocation::kEnded) {
    KickInLoop("broker.moved, and the session has ended");
    return;
  }
  if (where != Relocation::kMoved) {
    // The uplink could not answer, or has not read the new list yet: go where the broker says.
    // Should that broker refuse, the refused connect asks the uplink again.
    const std::string host = StringField(event, "host");
    const auto port_field = event.find("port");
    const int64_t port = port_field != event.end() && port_field->is_number_integer()
                             ? port_field->get<int64_t>()
                             : 0;
    if (!host.empty() && port > 0 && port < 65536) {
      loop_session_.mqtt["host"] = host;
      loop_session_.mqtt["port"] = port;
    }
  }
  // The old broker disconnects us shortly anyway; leaving first saves that wait.
  const std::string from = link_broker_;
  if (link_) {
    link_->Disconnect(milliseconds(500));
    link_.reset();
  }
  connected_ = false;
  need_sync_ = false;
  reconnect_backoff_.Reset();
  next_connect_at_ = Clock::now();
  SetStateInLoop(ConnectionState::kDisconnected,
                 "broker.moved: leaving " + from + " for " +
                     StringField(loop_session_.mqtt, "host") + ":" +
                     std::to_string(loop_session_.mqtt.value("port", 0)));
}

void Client::Impl::OnConnectionLostInLoop(const std::string& cause) {
  link_.reset();
  connected_ = false;
  need_sync_ = false;
  milliseconds delay = reconnect_backoff_.Next();
  next_connect_at_ = Clock::now() + delay;
  SetStateInLoop(ConnectionState::kDisconnected, cause + "; reconnecting in " + Ms(delay));
}

void Client::Impl::SyncPageInLoop() {
  const int limit = std::max(1, options_.sync_page_limit);
  const int64_t before = sequencer_->last_seq();
  Result<SyncPage> page = api_->Sync(loop_session_.token, before, limit);
  if (!page.ok()) {
    if (page.status().code() == Status::Code::kUnauthorized) {
      KickInLoop("sync: " + page.status().message());
      return;
    }
    milliseconds delay = sync_backoff_.Next();
    next_sync_at_ = Clock::now() + delay;
    SetStateInLoop(caught_up_ ? ConnectionState::kLive : ConnectionState::kSyncing,
                   "sync failed: " + page.status().ToString() + "; retry in " + Ms(delay));
    return;
  }
  sync_backoff_.Reset();
  InboxSequencer::Step step = sequencer_->OnSyncPage(page->epoch, page->items, page->has_more);
  ApplyStepInLoop(step, /*from_sync=*/true);
  if (need_sync_ && !page->has_more && !step.reset && sequencer_->last_seq() == before) {
    // The server has nothing after last_seq, yet held pushes wait beyond it: do not spin on it.
    next_sync_at_ = Clock::now() + sync_backoff_.Next();
  }
  if (!need_sync_ && !caught_up_ && connected_) {
    caught_up_ = true;
    reconnect_backoff_.Reset();  // subscribed and synced: the connection is good
    SetStateInLoop(ConnectionState::kLive,
                   "caught up at seq " + std::to_string(sequencer_->last_seq()));
  }
}

void Client::Impl::AckInLoop() {
  if (!options_.inbox) {  // nothing to ack; the loop waits for events
    next_ack_at_ = Clock::now() + std::chrono::hours(1);
    return;
  }
  Result<AckAnswer> answer = api_->Ack(loop_session_.token, sequencer_->last_seq());
  next_ack_at_ = Clock::now() + options_.ack_interval;
  if (!answer.ok()) {
    if (answer.status().code() == Status::Code::kUnauthorized) {
      KickInLoop("ack: " + answer.status().message());
      return;
    }
    spdlog::debug("courier client: ack failed: {}", answer.status().ToString());
    return;
  }
  ApplyStepInLoop(sequencer_->OnAckAnswer(answer->latest_seq, answer->epoch),
                  /*from_sync=*/false);
}

void Client::Impl::ApplyStepInLoop(const InboxSequencer::Step& step, bool from_sync) {
  for (const json& envelope : step.deliver) {
    if (queue_.stop_requested()) {
      // Stop() came (perhaps from the callback just run): deliver nothing more, and keep the
      // cursor at the last entry delivered; the next Start() resumes from there.
      stopped_at_ = Cursor{sequencer_->epoch(), SeqOf(envelope) - 1};
      break;
    }
    std::string type = StringField(envelope, "type");
    if (type == "message") {
      Invoke("on_message", owner_->on_message, envelope);
    } else if (type == "notification") {
      Invoke("on_notification", owner_->on_notification, envelope);
    } else {
      spdlog::debug("courier client: skipped inbox entry {} of unknown type \"{}\"",
                    SeqOf(envelope), type);
    }
  }
  if (step.skipped > 0) {
    spdlog::warn("courier client: {} inbox entries before seq {} are gone from the server",
                 step.skipped, sequencer_->last_seq());
  }
  SaveCursorInLoop();
  if (step.reset) Invoke("on_reset", owner_->on_reset, sequencer_->epoch());
  if (from_sync) {
    need_sync_ = step.sync;
  } else if (step.sync) {
    RequestSyncInLoop();
  }
}

void Client::Impl::RequestSyncInLoop() {
  if (need_sync_) return;  // already asked; keep any backoff in force
  need_sync_ = true;
  next_sync_at_ = std::max(next_sync_at_, Clock::now());
}

void Client::Impl::SaveCursorInLoop() {
  Cursor c = stopped_at_ ? *stopped_at_ : Cursor{sequencer_->epoch(), sequencer_->last_seq()};
  {
    std::lock_guard<std::mutex> lock(mu_);
    cursor_ = c;
  }
  if (c == saved_) return;
  Status s = store_->Save(c);
  if (!s.ok()) {
    spdlog::warn("courier client: cannot save the cursor: {}", s.ToString());
    return;
  }
  saved_ = c;
}

void Client::Impl::KickInLoop(const std::string& detail) {
  kicked_ = true;
  connected_ = false;
  need_sync_ = false;
  if (link_) {
    link_->Disconnect(milliseconds(500));
    link_.reset();
  }
  SaveCursorInLoop();
  SetStateInLoop(ConnectionState::kKicked, detail);
}

void Client::Impl::ShutdownInLoop() {
  if (link_) {
    link_->Disconnect(milliseconds(2000));  // clean: the device shows offline at once
    link_.reset();
  }
  connected_ = false;
  SaveCursorInLoop();
  SetStateInLoop(ConnectionState::kStopped, kicked_ ? "stopped (kicked)" : "stopped");
}

void Client::Impl::SetStateInLoop(ConnectionState state, const std::string& detail) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    state_ = state;
    const bool up = state == ConnectionState::kSyncing || state == ConnectionState::kLive;
    connected_broker_ = up && link_ ? link_broker_ : std::string();
  }
  spdlog::debug("courier client: {}:{} {}: {}", loop_session_.user_id, loop_session_.device_id,
                ToString(state), detail);
  Invoke("on_state", owner_->on_state, state, detail);
}

// ----- Client: the public face.

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(this, std::move(options))) {}

Client::~Client() { Stop(); }

Status Client::Register(const std::string& user_id, const std::string& password,
                        const std::string& display_name) {
  return impl_->Register(user_id, password, display_name);
}

Result<LoginInfo> Client::Login(const std::string& user_id, const std::string& password,
                                const std::string& device_id, const std::string& platform) {
  return impl_->Login(user_id, password, device_id, platform);
}

Status Client::UseSession(const LoginInfo& session) { return impl_->UseSession(session); }

Status Client::Start() { return impl_->Start(); }

void Client::Stop() { impl_->Stop(); }

Status Client::Logout() { return impl_->Logout(); }

Result<SendResult> Client::Send(const std::string& to, const nlohmann::json& body,
                                const std::string& kind) {
  return impl_->SendWithCmid(to, NewCmid(), body, kind);
}

Result<SendResult> Client::SendWithCmid(const std::string& to, const std::string& cmid,
                                        const nlohmann::json& body, const std::string& kind) {
  return impl_->SendWithCmid(to, cmid, body, kind);
}

Result<Group> Client::CreateGroup(const std::string& name, const std::vector<std::string>& members,
                                  const std::string& group_id) {
  return impl_->WithSession([&](const ApiClient& api, const std::string& token) {
    return api.CreateGroup(token, group_id, name, members);
  });
}

Result<Group> Client::GetGroup(const std::string& group_id) {
  return impl_->WithSession([&](const ApiClient& api, const std::string& token) {
    return api.GetGroup(token, group_id);
  });
}

Result<Group> Client::AddGroupMembers(const std::string& group_id,
                                      const std::vector<std::string>& user_ids) {
  return impl_->WithSession([&](const ApiClient& api, const std::string& token) {
    return api.AddGroupMembers(token, group_id, user_ids);
  });
}

Status Client::RemoveGroupMember(const std::string& group_id, const std::string& user_id) {
  return impl_->WithSession([&](const ApiClient& api, const std::string& token) {
    return api.RemoveGroupMember(token, group_id, user_id);
  });
}

Status Client::LeaveGroup(const std::string& group_id) {
  return RemoveGroupMember(group_id, impl_->CurrentUser());
}

Result<Group> Client::SetGroupRole(const std::string& group_id, const std::string& user_id,
                                   const std::string& role) {
  return impl_->WithSession([&](const ApiClient& api, const std::string& token) {
    return api.SetGroupRole(token, group_id, user_id, role);
  });
}

Result<std::string> Client::RequestFriend(const std::string& user_id, const std::string& note) {
  return impl_->WithSession([&](const ApiClient& api, const std::string& token) {
    return api.RequestFriend(token, user_id, note);
  });
}

Result<std::vector<FriendRequest>> Client::FriendRequests() {
  return impl_->WithSession(
      [&](const ApiClient& api, const std::string& token) { return api.FriendRequests(token); });
}

Status Client::AcceptFriendRequest(const std::string& request_id) {
  return impl_->WithSession([&](const ApiClient& api, const std::string& token) {
    return api.AnswerFriendRequest(token, request_id, /*accept=*/true);
  });
}

Status Client::RejectFriendRequest(const std::string& request_id) {
  return impl_->WithSession([&](const ApiClient& api, const std::string& token) {
    return api.AnswerFriendRequest(token, request_id, /*accept=*/false);
  });
}

Result<std::vector<Friend>> Client::Friends() {
  return impl_->WithSession(
      [&](const ApiClient& api, const std::string& token) { return api.Friends(token); });
}

Status Client::RemoveFriend(const std::string& user_id) {
  return impl_->WithSession([&](const ApiClient& api, const std::string& token) {
    return api.RemoveFriend(token, user_id);
  });
}

Status Client::Block(const std::string& user_id) {
  return impl_->WithSession(
      [&](const ApiClient& api, const std::string& token) { return api.Block(token, user_id); });
}

Status Client::Unblock(const std::string& user_id) {
  return impl_->WithSession(
      [&](const ApiClient& api, const std::string& token) { return api.Unblock(token, user_id); });
}

Result<std::vector<std::string>> Client::Blocks() {
  return impl_->WithSession(
      [&](const ApiClient& api, const std::string& token) { return api.Blocks(token); });
}

Result<std::vector<ConversationSummary>> Client::Conversations(int limit) {
  return impl_->WithSession([&](const ApiClient& api, const std::string& token) {
    return api.Conversations(token, limit);
  });
}

Result<MessagePage> Client::History(const std::string& conv, int64_t before, int limit) {
  return impl_->WithSession([&](const ApiClient& api, const std::string& token) {
    return api.History(token, conv, before, limit);
  });
}

Status Client::MarkRead(const std::string& conv, int64_t conv_seq) {
  return impl_->WithSession([&](const ApiClient& api, const std::string& token) {
    return api.MarkRead(token, conv, conv_seq);
  });
}

Status Client::Recall(const std::string& message_id) {
  return impl_->WithSession([&](const ApiClient& api, const std::string& token) {
    return api.Recall(token, message_id);
  });
}

Status Client::SendSignal(const std::string& to, const std::string& kind) {
  return impl_->WithSession([&](const ApiClient& api, const std::string& token) {
    return api.SendSignal(token, to, kind);
  });
}

Result<std::map<std::string, Presence>> Client::GetPresence(const std::vector<std::string>& users) {
  return impl_->WithSession([&](const ApiClient& api, const std::string& token) {
    return api.GetPresence(token, users);
  });
}

Status Client::JoinRoom(const std::string& room_id) { return impl_->JoinRoom(room_id); }

Status Client::LeaveRoom(const std::string& room_id) { return impl_->LeaveRoom(room_id); }

std::vector<std::string> Client::rooms() const { return impl_->rooms(); }

Cursor Client::cursor() const { return impl_->cursor(); }

ConnectionState Client::state() const { return impl_->state(); }

std::string Client::connected_broker() const { return impl_->connected_broker(); }

void Client::set_cursor_store(std::unique_ptr<CursorStore> store) {
  impl_->set_cursor_store(std::move(store));
}

}  // namespace courier::client
