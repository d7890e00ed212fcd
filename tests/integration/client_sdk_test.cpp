// The client SDK (client/courier_client.h) and the `courier` CLI against a real stack (SPEC §5):
// every inbox entry reaches the app exactly once and in seq order — live, across an app restart,
// through an uplink killed mid-send, a broker restart, and a stopped downlink (found by the
// periodic ack) — and an ended session stops the device for good. Beyond one-to-one messages:
// groups (a group message reaches every other member once, in order), friend requests and their
// notifications, rooms (joined rooms' messages, none after leaving, re-subscribed after a
// reconnect), signals and presence, conversations, history, read marks, recalls and blocks, and
// the CLI's commands for all of them.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "client/courier_client.h"
#include "tests/support/courier_api.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"
#include "tests/support/test_stack.h"

namespace courier::testing {
namespace {

using client::Client;
using client::ClientOptions;
using client::ConnectionState;
using client::Cursor;
using client::Group;
using client::LoginInfo;
using client::SendResult;
using nlohmann::json;
using namespace std::chrono_literals;

// Options for a device under test: short timeouts and reconnect delays, so that faults heal
// within seconds.
ClientOptions TestOptions(const TestStack& stack, const std::string& state_dir = "") {
  ClientOptions o;
  o.base_url = stack.http_url();
  o.state_dir = state_dir;
  o.request_timeout = 3000ms;
  o.send_deadline = 30000ms;
  o.ack_interval = 5000ms;
  o.mqtt_keepalive_s = 5;
  o.reconnect = client::BackoffPolicy{100ms, 1000ms, 1.8, 0.3};
  return o;
}

std::vector<int64_t> Range(int64_t first, int64_t last) {
  std::vector<int64_t> out;
  for (int64_t s = first; s <= last; ++s) out.push_back(s);
  return out;
}

// What an SdkDevice's callbacks saw, in the order they saw it.
struct Seen {
  std::vector<json> messages;       // on_message
  std::vector<json> notifications;  // on_notification
  std::vector<json> entries;        // both, in delivery order
  std::vector<json> signals;        // on_signal
  std::vector<json> room_messages;  // on_room_message
  std::vector<json> controls;       // on_control

  // The notifications of one event ("friend.request", ...).
  std::vector<json> Events(const std::string& event) const {
    std::vector<json> out;
    for (const json& n : notifications) {
      if (n.value("event", "") == event) out.push_back(n);
    }
    return out;
  }
};

// An SDK client whose callbacks record what the app saw.
class SdkDevice {
 public:
  explicit SdkDevice(ClientOptions options) : client_(std::move(options)) {
    client_.on_message = [this](const json& e) {
      Record(&seen_.messages, e);
      Record(&seen_.entries, e);
    };
    client_.on_notification = [this](const json& e) {
      Record(&seen_.notifications, e);
      Record(&seen_.entries, e);
    };
    client_.on_signal = [this](const json& e) { Record(&seen_.signals, e); };
    client_.on_room_message = [this](const json& e) { Record(&seen_.room_messages, e); };
    client_.on_control = [this](const json& e) { Record(&seen_.controls, e); };
    client_.on_state = [this](ConnectionState s, const std::string& detail) {
      std::lock_guard<std::mutex> lock(mu_);
      states_.emplace_back(s, detail);
      cv_.notify_all();
    };
  }

  Client& client() { return client_; }

  // Logs in with the support helpers' password and starts; REQUIREs both.
  LoginInfo LoginAndStart(const std::string& user, const std::string& device) {
    Result<LoginInfo> login = client_.Login(user, PasswordOf(user), device);
    REQUIRE_MESSAGE(login.ok(), login.status().ToString());
    Status started = client_.Start();
    REQUIRE_MESSAGE(started.ok(), started.ToString());
    return *login;
  }

  std::vector<json> messages() const {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_.messages;
  }
  std::vector<json> controls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_.controls;
  }
  Seen seen() const {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }
  std::vector<int64_t> seqs() const {
    std::vector<int64_t> out;
    for (const json& m : messages()) out.push_back(m["seq"].get<int64_t>());
    return out;
  }
  // The seqs of every inbox entry delivered (messages and notifications), in delivery order.
  std::vector<int64_t> entry_seqs() const {
    std::vector<int64_t> out;
    for (const json& e : seen().entries) out.push_back(e["seq"].get<int64_t>());
    return out;
  }
  std::vector<int64_t> room_seqs() const {
    std::vector<int64_t> out;
    for (const json& m : seen().room_messages) out.push_back(m["room_seq"].get<int64_t>());
    return out;
  }
  size_t state_count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return states_.size();
  }
  // The states reported from index `from` on.
  std::vector<ConnectionState> states(size_t from = 0) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<ConnectionState> out;
    for (size_t i = from; i < states_.size(); ++i) out.push_back(states_[i].first);
    return out;
  }
  // "connecting: tcp://...\nsyncing: ...", for failure messages.
  std::string StateLog() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::string out;
    for (const auto& [s, detail] : states_) out += std::string(ToString(s)) + ": " + detail + "\n";
    return out;
  }

  bool WaitForMessages(size_t n, std::chrono::milliseconds timeout = 15s) const {
    return WaitFor([n](const Seen& s) { return s.messages.size() >= n; }, timeout);
  }
  // Waits until `done(what was seen)` holds.
  bool WaitFor(const std::function<bool(const Seen&)>& done,
               std::chrono::milliseconds timeout = 15s) const {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return done(seen_); });
  }
  bool WaitForEvent(const std::string& event, std::chrono::milliseconds timeout = 15s) const {
    return WaitFor([&](const Seen& s) { return !s.Events(event).empty(); }, timeout);
  }
  bool WaitForRoomMessages(size_t n, std::chrono::milliseconds timeout = 15s) const {
    return WaitFor([n](const Seen& s) { return s.room_messages.size() >= n; }, timeout);
  }
  // Waits until `state` is reported at index `from` or later.
  bool WaitForState(ConnectionState state, std::chrono::milliseconds timeout = 15s,
                    size_t from = 0) const {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] {
      for (size_t i = from; i < states_.size(); ++i) {
        if (states_[i].first == state) return true;
      }
      return false;
    });
  }

 private:
  void Record(std::vector<json>* to, const json& e) {
    std::lock_guard<std::mutex> lock(mu_);
    to->push_back(e);
    cv_.notify_all();
  }

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  Seen seen_;                                                    // GUARDED_BY(mu_)
  std::vector<std::pair<ConnectionState, std::string>> states_;  // GUARDED_BY(mu_)
  Client client_;  // last: destroyed (and stopped) before what its callbacks touch
};

// Sends `n` messages {"i": first..} to `to`, one after another; REQUIREs each.
std::vector<SendResult> SendMany(Client& from, const std::string& to, int first, int n) {
  std::vector<SendResult> out;
  for (int i = first; i < first + n; ++i) {
    Result<SendResult> r = from.Send(to, json{{"i", i}});
    REQUIRE_MESSAGE(r.ok(), "send #" << i << ": " << r.status().ToString());
    CHECK_FALSE(r->duplicate);
    out.push_back(*r);
  }
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST_CASE(
    "client sdk: 50 messages to a live device arrive once each, in order; the sender's "
    "devices get its copies") {
  TestStack stack;
  SdkDevice a(TestOptions(stack)), b(TestOptions(stack));
  REQUIRE(a.client().Register("alice", PasswordOf("alice")).ok());
  REQUIRE(b.client().Register("bob", PasswordOf("bob")).ok());
  CHECK(a.client().Register("alice", "other").code() == Status::Code::kConflict);
  a.LoginAndStart("alice", "phone");
  b.LoginAndStart("bob", "phone");
  REQUIRE_MESSAGE(a.WaitForState(ConnectionState::kLive), a.StateLog());
  REQUIRE_MESSAGE(b.WaitForState(ConnectionState::kLive), b.StateLog());
  CHECK(b.states() == std::vector<ConnectionState>{ConnectionState::kConnecting,
                                                   ConnectionState::kSyncing,
                                                   ConnectionState::kLive});

  std::vector<SendResult> sent = SendMany(a.client(), "user:bob", 0, 50);
  REQUIRE_MESSAGE(b.WaitForMessages(50), b.seqs().size() << " of 50\n" << stack.AllLogTails());
  REQUIRE_MESSAGE(a.WaitForMessages(50), a.seqs().size() << " of 50\n" << stack.AllLogTails());
  std::this_thread::sleep_for(500ms);  // a stray repeat would show up now

  CHECK(b.seqs() == Range(1, 50));
  std::vector<json> got = b.messages();
  REQUIRE(got.size() == 50);
  for (size_t i = 0; i < 50; ++i) {
    CAPTURE(i);
    CHECK(got[i]["id"] == sent[i].id);
    CHECK(got[i]["cmid"] == sent[i].cmid);
    CHECK(got[i]["body"] == json{{"i", i}});
    CHECK(got[i]["conv_seq"] == i + 1);
    CHECK(got[i]["from"] == "alice");
    CHECK(sent[i].attempts == 1);
    CHECK(sent[i].conv == "u:alice:bob");
  }
  // Alice's own inbox: her copies, with her own seqs.
  CHECK(a.seqs() == Range(1, 50));
  std::vector<json> own = a.messages();
  REQUIRE(own.size() == 50);
  for (size_t i = 0; i < 50; ++i) {
    CHECK(own[i]["cmid"] == sent[i].cmid);
    CHECK(own[i]["to"] == "user:bob");
  }
  CHECK(b.client().cursor().last_seq == 50);
  CHECK(b.client().cursor().epoch == got[0]["epoch"]);
  CHECK(b.client().state() == ConnectionState::kLive);

  b.client().Stop();
  b.client().Stop();  // idempotent
  CHECK(b.client().state() == ConnectionState::kStopped);
  CHECK(b.states().back() == ConnectionState::kStopped);
}

TEST_CASE("client sdk: a restarted app resumes from its saved cursor, without repeats") {
  TestStack stack;
  const std::string state_dir = stack.data_dir() + "/bob-app";
  HttpClient http(stack.http_port());
  Register(http, "alice");
  Register(http, "bob");
  SdkDevice a(TestOptions(stack));
  a.LoginAndStart("alice", "phone");

  LoginInfo bob_session;
  {
    SdkDevice b(TestOptions(stack, state_dir));
    bob_session = b.LoginAndStart("bob", "phone");
    SendMany(a.client(), "user:bob", 0, 50);
    REQUIRE_MESSAGE(b.WaitForMessages(50), b.StateLog() << stack.AllLogTails());
    CHECK(b.seqs() == Range(1, 50));
    b.client().Stop();
  }
  const std::string cursor_file = state_dir + "/bob.phone.cursor";
  std::string epoch = ReadFile(cursor_file).substr(0, 16);
  CHECK(ReadFile(cursor_file) == epoch + " 50\n");

  // The app is down while 20 more arrive.
  SendMany(a.client(), "user:bob", 50, 20);
  {
    // A new process: the saved session (no password) and the same state_dir.
    SdkDevice b(TestOptions(stack, state_dir));
    REQUIRE(b.client().UseSession(bob_session).ok());
    REQUIRE(b.client().Start().ok());
    REQUIRE_MESSAGE(b.WaitForMessages(20), b.StateLog() << stack.AllLogTails());
    REQUIRE(b.WaitForState(ConnectionState::kLive));
    std::this_thread::sleep_for(500ms);
    CHECK(b.seqs() == Range(51, 70));
    std::vector<json> got = b.messages();
    for (size_t i = 0; i < got.size(); ++i) CHECK(got[i]["body"] == json{{"i", 50 + i}});
    CHECK(b.client().cursor() == Cursor{epoch, 70});
    CHECK(ReadFile(cursor_file) == epoch + " 70\n");

    // Stop and Start of the same object: again only what is new.
    b.client().Stop();
    SendMany(a.client(), "user:bob", 70, 5);
    REQUIRE(b.client().Start().ok());
    REQUIRE_MESSAGE(b.WaitForMessages(25), b.StateLog());
    std::this_thread::sleep_for(300ms);
    CHECK(b.seqs() == Range(51, 75));
  }
  CHECK(ReadFile(cursor_file) == epoch + " 75\n");
}

TEST_CASE("client sdk: Stop() from a callback cuts a sync batch; the next start resumes there") {
  TestStack stack;
  const std::string state_dir = stack.data_dir() + "/bob-app";
  HttpClient http(stack.http_port());
  Register(http, "alice");
  Register(http, "bob");
  Login alice = LogIn(http, "alice", "phone");
  for (int i = 0; i < 10; ++i) SendOk(http, alice, "bob", "c-" + std::to_string(i));

  // All 10 come in one sync page; the app stops after the third.
  std::vector<int64_t> first_run;
  {
    ClientOptions options = TestOptions(stack, state_dir);
    Client bob(options);
    bob.on_message = [&](const json& e) {
      first_run.push_back(e["seq"].get<int64_t>());
      if (first_run.size() == 3) bob.Stop();
    };
    REQUIRE(bob.Login("bob", PasswordOf("bob"), "phone").ok());
    REQUIRE(bob.Start().ok());
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (bob.state() != ConnectionState::kStopped &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
    CHECK(bob.state() == ConnectionState::kStopped);
    CHECK(bob.cursor().last_seq == 3);
  }
  CHECK(first_run == Range(1, 3));
  SdkDevice again(TestOptions(stack, state_dir));
  again.LoginAndStart("bob", "phone");
  REQUIRE_MESSAGE(again.WaitForMessages(7), again.StateLog());
  std::this_thread::sleep_for(300ms);
  CHECK(again.seqs() == Range(4, 10));
}

TEST_CASE("client sdk: a send survives the uplink killed mid-request and restarted") {
  TestStack stack;
  HttpClient http(stack.http_port());
  Register(http, "alice");
  Register(http, "bob");
  SdkDevice a(TestOptions(stack)), b(TestOptions(stack));
  a.LoginAndStart("alice", "phone");
  b.LoginAndStart("bob", "phone");
  REQUIRE_MESSAGE(b.WaitForState(ConnectionState::kLive), b.StateLog());

  // Frozen, the uplink accepts the connection (kernel backlog) but never answers: the request is
  // in flight when the kill comes. The send runs on a thread of its own; the stack is driven
  // from this one (a child process is tied to the thread that started it).
  REQUIRE(stack.process(Component::kUplink).Signal(SIGSTOP));
  Result<SendResult> result = Status::Internal("not sent");
  const std::string cmid = "survivor-1";
  std::thread sender([&] {
    result = a.client().SendWithCmid("user:bob", cmid, json{{"text", "still here"}});
  });
  std::this_thread::sleep_for(500ms);
  stack.KillUplink();
  std::this_thread::sleep_for(700ms);  // the SDK's retries meet a closed port meanwhile
  Status restarted = stack.StartUplink();
  sender.join();
  REQUIRE_MESSAGE(restarted.ok(), restarted.ToString());
  REQUIRE_MESSAGE(result.ok(), result.status().ToString() << "\n" << stack.AllLogTails());
  CHECK(result->attempts >= 2);
  CHECK(result->cmid == cmid);
  MESSAGE("attempts: " << result->attempts << ", duplicate: " << result->duplicate);

  REQUIRE_MESSAGE(b.WaitForMessages(1), b.StateLog() << stack.AllLogTails());
  // The same cmid again is the same message, never a second one.
  Result<SendResult> again = a.client().SendWithCmid("user:bob", cmid, json{{"text", "x"}});
  REQUIRE(again.ok());
  CHECK(again->duplicate);
  CHECK(again->id == result->id);
  CHECK(again->conv_seq == result->conv_seq);
  std::this_thread::sleep_for(1000ms);
  std::vector<json> got = b.messages();
  REQUIRE(got.size() == 1);
  CHECK(got[0]["seq"] == 1);
  CHECK(got[0]["id"] == result->id);
  CHECK(got[0]["body"] == json{{"text", "still here"}});
  CHECK(SyncAll(http, LogIn(http, "bob", "laptop", "web")).size() == 1);
}

TEST_CASE("client sdk: a broker restart while live: the device reconnects and misses nothing") {
  TestStack stack;
  HttpClient http(stack.http_port());
  Register(http, "alice");
  Register(http, "bob");
  SdkDevice a(TestOptions(stack)), b(TestOptions(stack));
  a.LoginAndStart("alice", "phone");
  b.LoginAndStart("bob", "phone");
  REQUIRE_MESSAGE(b.WaitForState(ConnectionState::kLive), b.StateLog());
  const size_t states_before = b.state_count();

  constexpr int kTotal = 60;
  std::atomic<int> sent{0};
  std::atomic<bool> send_failed{false};
  std::string failure;
  std::thread sender([&] {
    for (int i = 0; i < kTotal; ++i) {
      Result<SendResult> r = a.client().Send("user:bob", json{{"i", i}});
      if (!r.ok()) {
        failure = r.status().ToString();
        send_failed = true;
        return;
      }
      ++sent;
      std::this_thread::sleep_for(25ms);
    }
  });
  while (sent < 15 && !send_failed) std::this_thread::sleep_for(5ms);
  stack.KillBroker();
  std::this_thread::sleep_for(500ms);
  Status restarted = stack.StartBroker();
  sender.join();
  REQUIRE_MESSAGE(restarted.ok(), restarted.ToString());
  REQUIRE_MESSAGE(!send_failed, failure);

  REQUIRE_MESSAGE(b.WaitForMessages(kTotal, 30s), b.seqs().size()
                                                      << " of " << kTotal << "\n"
                                                      << b.StateLog() << stack.AllLogTails());
  std::this_thread::sleep_for(1000ms);  // late re-publishes of the downlink are dropped
  CHECK(b.seqs() == Range(1, kTotal));
  std::vector<json> got = b.messages();
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i]["body"] == json{{"i", i}});
  // It went down and came back by itself.
  std::vector<ConnectionState> after = b.states(states_before);
  CHECK_MESSAGE(std::count(after.begin(), after.end(), ConnectionState::kDisconnected) >= 1,
                b.StateLog());
  CHECK_MESSAGE(after.back() == ConnectionState::kLive, b.StateLog());
  CHECK(b.client().state() == ConnectionState::kLive);
}

TEST_CASE("client sdk: with the downlink stopped, the periodic ack finds the missed messages") {
  TestStack stack;
  HttpClient http(stack.http_port());
  Register(http, "alice");
  Register(http, "bob");
  ClientOptions fast_ack = TestOptions(stack);
  fast_ack.ack_interval = 500ms;
  SdkDevice a(TestOptions(stack)), b(fast_ack);
  a.LoginAndStart("alice", "phone");
  b.LoginAndStart("bob", "phone");
  REQUIRE_MESSAGE(b.WaitForState(ConnectionState::kLive), b.StateLog());
  SendMany(a.client(), "user:bob", 0, 2);
  REQUIRE(b.WaitForMessages(2));
  const size_t states_before = b.state_count();

  stack.StopDownlink();
  auto start = std::chrono::steady_clock::now();
  SendMany(a.client(), "user:bob", 2, 10);
  REQUIRE_MESSAGE(b.WaitForMessages(12, 10s), b.seqs().size()
                                                  << " of 12\n"
                                                  << b.StateLog() << stack.AllLogTails());
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  MESSAGE("found through the ack after " << took.count() << " ms");
  CHECK(b.seqs() == Range(1, 12));
  CHECK(b.states(states_before).empty());  // no reconnect: the link stayed up

  // The downlink comes back and publishes what it owed: repeats, dropped by seq.
  REQUIRE(stack.StartDownlink().ok());
  SendMany(a.client(), "user:bob", 12, 1);
  REQUIRE(b.WaitForMessages(13));
  std::this_thread::sleep_for(1000ms);
  CHECK(b.seqs() == Range(1, 13));
}

TEST_CASE("client sdk: a logout elsewhere ends the device for good") {
  TestStack stack;
  HttpClient http(stack.http_port());
  Register(http, "bob");
  SdkDevice b(TestOptions(stack));
  LoginInfo session = b.LoginAndStart("bob", "phone");
  REQUIRE_MESSAGE(b.WaitForState(ConnectionState::kLive), b.StateLog());

  HttpResponse out = http.Delete("/v1/sessions/current", session.token);
  REQUIRE_MESSAGE(out.status == 204, out.Describe());
  REQUIRE_MESSAGE(b.WaitForState(ConnectionState::kKicked, 10s), b.StateLog());
  CHECK(b.client().state() == ConnectionState::kKicked);
  const size_t at_kick = b.state_count();
  std::this_thread::sleep_for(3000ms);  // several reconnect delays: none may be tried
  CHECK_MESSAGE(b.state_count() == at_kick, b.StateLog());
  CHECK(b.client().state() == ConnectionState::kKicked);
  std::vector<json> controls = b.controls();
  if (!controls.empty()) {  // normally first; the dropped connection can win the race
    CHECK(controls[0]["event"] == "session.kicked");
    CHECK(controls[0]["reason"] == "logout");
  }
  // Sends with the dead token fail at once, without retries.
  Result<SendResult> send = b.client().Send("user:bob", json{{"text", "x"}});
  CHECK(send.status().code() == Status::Code::kUnauthorized);

  b.client().Stop();
  CHECK(b.client().state() == ConnectionState::kStopped);
  // The dead session saved by an app: the broker refuses it (CONNACK 5), and that is final too.
  SdkDevice stale(TestOptions(stack));
  REQUIRE(stale.client().UseSession(session).ok());
  REQUIRE(stale.client().Start().ok());
  REQUIRE_MESSAGE(stale.WaitForState(ConnectionState::kKicked, 10s), stale.StateLog());
  CHECK(stale.states() ==
        std::vector<ConnectionState>{ConnectionState::kConnecting, ConnectionState::kKicked});
  std::this_thread::sleep_for(1000ms);
  CHECK_MESSAGE(stale.state_count() == 2, stale.StateLog());
  // Logging in again brings it back.
  REQUIRE(b.client().Login("bob", PasswordOf("bob"), "phone").ok());
  const size_t before_restart = b.state_count();
  REQUIRE(b.client().Start().ok());
  CHECK_MESSAGE(b.WaitForState(ConnectionState::kLive, 10s, before_restart), b.StateLog());
}

TEST_CASE("client sdk: a login on another device of the same platform kicks the device") {
  TestStack stack;
  HttpClient http(stack.http_port());
  Register(http, "bob");
  SdkDevice phone(TestOptions(stack));
  phone.LoginAndStart("bob", "phone");
  REQUIRE_MESSAGE(phone.WaitForState(ConnectionState::kLive), phone.StateLog());
  LogIn(http, "bob", "tablet");  // the same platform (cli)
  REQUIRE_MESSAGE(phone.WaitForState(ConnectionState::kKicked, 10s), phone.StateLog());
  std::vector<json> controls = phone.controls();
  if (!controls.empty()) CHECK(controls[0]["reason"] == "login_elsewhere");
}

TEST_CASE("client sdk: errors keep the server's code, and nothing is retried that should not be") {
  TestStack stack;
  HttpClient http(stack.http_port());
  Register(http, "alice");
  SdkDevice a(TestOptions(stack));
  CHECK(a.client().Start().code() == Status::Code::kUnauthorized);  // no session yet
  CHECK(a.client().Send("user:bob", json{{"t", 1}}).status().code() == Status::Code::kUnauthorized);
  Result<LoginInfo> wrong = a.client().Login("alice", "wrong", "phone");
  CHECK(wrong.status().code() == Status::Code::kUnauthorized);
  REQUIRE(a.client().Login("alice", PasswordOf("alice"), "phone").ok());

  Result<SendResult> unknown = a.client().Send("user:nobody", json{{"t", 1}});
  CHECK(unknown.status().code() == Status::Code::kNotFound);
  CHECK(unknown.status().message() == "no such user: nobody");
  CHECK(a.client().Send("bob", json{{"t", 1}}).status().code() == Status::Code::kInvalidField);
  CHECK(a.client().SendWithCmid("user:alice", "has space", 1).status().code() ==
        Status::Code::kInvalidField);
  json big = {{"blob", std::string(20000, 'x')}};
  CHECK(a.client().Send("user:alice", big).status().code() == Status::Code::kTooLarge);

  // Nothing listens: no answer until the deadline, then Unavailable.
  ClientOptions nowhere = TestOptions(stack);
  nowhere.base_url = "http://127.0.0.1:" + std::to_string(FreePort());
  nowhere.send_deadline = 1000ms;
  Client lost(nowhere);
  REQUIRE(lost.UseSession(*a.client().Login("alice", PasswordOf("alice"), "phone")).ok());
  auto start = std::chrono::steady_clock::now();
  Result<SendResult> r = lost.Send("user:alice", json{{"t", 1}});
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(r.status().code() == Status::Code::kUnavailable);
  CHECK(took < 2000ms);
  ClientOptions no_scheme;
  no_scheme.base_url = "127.0.0.1:8080";
  CHECK(Client(no_scheme).Register("x", "y").code() == Status::Code::kInvalidField);
}

// ----- Groups, friends, rooms, signals and conversations through the SDK.

// Logs `user` in on "phone" and waits until it is live; REQUIREs both.
void StartLive(SdkDevice& device, const std::string& user) {
  device.LoginAndStart(user, "phone");
  REQUIRE_MESSAGE(device.WaitForState(ConnectionState::kLive), user << ":\n" << device.StateLog());
}

std::map<std::string, std::string> RolesOf(const Group& group) {
  std::map<std::string, std::string> out;
  for (const client::GroupMember& m : group.members) out[m.user_id] = m.role;
  return out;
}

std::string Dump(const std::vector<json>& values) { return json(values).dump(); }

TEST_CASE("client sdk: a group message reaches every other member's SDK exactly once, in order") {
  TestStack stack;
  HttpClient http(stack.http_port());
  for (const char* user : {"alice", "bob", "carol", "dave"}) Register(http, user);
  SdkDevice a(TestOptions(stack)), b(TestOptions(stack)), c(TestOptions(stack)),
      d(TestOptions(stack));
  StartLive(a, "alice");
  StartLive(b, "bob");
  StartLive(c, "carol");

  Result<Group> created = a.client().CreateGroup("Book club", {"bob", "carol"}, "club");
  REQUIRE_MESSAGE(created.ok(), created.status().ToString() << "\n" << stack.AllLogTails());
  CHECK(created->group_id == "club");
  CHECK(created->name == "Book club");
  CHECK(created->owner == "alice");
  CHECK(RolesOf(*created) == std::map<std::string, std::string>{
                                 {"alice", "owner"}, {"bob", "member"}, {"carol", "member"}});
  CHECK(a.client().CreateGroup("Again", {}, "club").status().code() == Status::Code::kConflict);
  Result<Group> seen_by_bob = b.client().GetGroup("club");
  REQUIRE_MESSAGE(seen_by_bob.ok(), seen_by_bob.status().ToString());
  CHECK(RolesOf(*seen_by_bob) == RolesOf(*created));
  REQUIRE(d.client().Login("dave", PasswordOf("dave"), "phone").ok());
  CHECK(d.client().GetGroup("club").status().code() == Status::Code::kNotMember);
  CHECK(d.client().Send("group:club", json{{"i", -1}}).status().code() == Status::Code::kNotMember);

  std::vector<SendResult> sent = SendMany(a.client(), "group:club", 0, 20);
  for (size_t i = 0; i < sent.size(); ++i) {
    CHECK(sent[i].conv == "g:club");
    CHECK(sent[i].conv_seq == static_cast<int64_t>(i + 1));
  }
  for (SdkDevice* member : {&b, &c}) {
    REQUIRE_MESSAGE(member->WaitForMessages(20), member->seqs().size()
                                                     << " of 20\n"
                                                     << member->StateLog() << stack.AllLogTails());
  }
  std::this_thread::sleep_for(1000ms);  // a stray repeat would show up now
  for (SdkDevice* member : {&b, &c}) {
    std::vector<json> got = member->messages();
    REQUIRE(got.size() == 20);
    for (size_t i = 0; i < got.size(); ++i) {
      CAPTURE(i);
      CHECK(got[i]["id"] == sent[i].id);
      CHECK(got[i]["conv"] == "g:club");
      CHECK(got[i]["conv_seq"] == i + 1);
      CHECK(got[i]["from"] == "alice");
      CHECK(got[i]["body"] == json{{"i", i}});
    }
    // One inbox order: every entry, notifications included, once, with seq 1, 2, 3, ...
    std::vector<int64_t> seqs = member->entry_seqs();
    CHECK(seqs == Range(1, static_cast<int64_t>(seqs.size())));
    CHECK_MESSAGE(member->seen().Events("group.created").size() == 1,
                  Dump(member->seen().notifications));
  }

  // Dave joins: he gets what is sent from then on.
  Result<Group> grown = a.client().AddGroupMembers("club", {"dave"});
  REQUIRE_MESSAGE(grown.ok(), grown.status().ToString());
  CHECK(RolesOf(*grown).count("dave") == 1);
  REQUIRE(d.client().Start().ok());
  REQUIRE_MESSAGE(d.WaitForEvent("group.member_added"), Dump(d.seen().notifications));
  SendMany(a.client(), "group:club", 20, 1);
  for (SdkDevice* member : {&b, &c, &d}) {
    REQUIRE_MESSAGE(member->WaitFor([](const Seen& s) {
      return !s.messages.empty() && s.messages.back()["conv_seq"] == 21;
    }),
                    member->StateLog());
  }
  CHECK(d.messages().size() == 1);

  // Alice makes dave an admin: every member hears of it.
  Result<Group> promoted = a.client().SetGroupRole("club", "dave", "admin");
  REQUIRE_MESSAGE(promoted.ok(), promoted.status().ToString());
  CHECK(RolesOf(*promoted)["dave"] == "admin");
  CHECK_MESSAGE(c.WaitForEvent("group.role_changed"), Dump(c.seen().notifications));
  CHECK(b.client().SetGroupRole("club", "carol", "admin").status().code() ==
        Status::Code::kForbidden);

  // Bob leaves, alice removes carol: each learns of it, and neither gets what follows.
  REQUIRE(b.client().LeaveGroup("club").ok());
  Status removed = a.client().RemoveGroupMember("club", "carol");
  REQUIRE_MESSAGE(removed.ok(), removed.ToString());
  CHECK(b.client().GetGroup("club").status().code() == Status::Code::kNotMember);
  CHECK(RolesOf(*a.client().GetGroup("club")) ==
        std::map<std::string, std::string>{{"alice", "owner"}, {"dave", "admin"}});
  CHECK_MESSAGE(b.WaitForEvent("group.member_left"), Dump(b.seen().notifications));
  CHECK_MESSAGE(c.WaitForEvent("group.member_removed"), Dump(c.seen().notifications));
  SendMany(a.client(), "group:club", 21, 1);
  REQUIRE(d.WaitForMessages(2));
  std::this_thread::sleep_for(1000ms);
  CHECK(b.messages().size() == 21);
  CHECK(c.messages().size() == 21);
  for (SdkDevice* member : {&b, &c, &d}) {
    std::vector<int64_t> seqs = member->entry_seqs();
    CHECK(seqs == Range(1, static_cast<int64_t>(seqs.size())));
  }
}

TEST_CASE("client sdk: a friend request reaches the target's SDK as a notification, once") {
  TestStack stack;
  HttpClient http(stack.http_port());
  for (const char* user : {"alice", "bob", "carol"}) Register(http, user);
  SdkDevice a(TestOptions(stack)), b(TestOptions(stack)), c(TestOptions(stack));
  StartLive(a, "alice");
  StartLive(b, "bob");
  StartLive(c, "carol");

  Result<std::string> id = a.client().RequestFriend("bob", "we met at the club");
  REQUIRE_MESSAGE(id.ok(), id.status().ToString() << "\n" << stack.AllLogTails());
  REQUIRE_MESSAGE(b.WaitForEvent("friend.request"), Dump(b.seen().notifications));
  json request = b.seen().Events("friend.request").front();
  CHECK(request["data"]["request_id"] == *id);
  CHECK(request["data"]["from"] == "alice");
  CHECK(request["data"]["note"] == "we met at the club");
  CHECK(request["seq"].is_number_integer());

  auto pending = b.client().FriendRequests();
  REQUIRE_MESSAGE(pending.ok(), pending.status().ToString());
  REQUIRE(pending->size() == 1);
  CHECK((*pending)[0].request_id == *id);
  CHECK((*pending)[0].from == "alice");
  CHECK((*pending)[0].note == "we met at the club");
  CHECK(a.client().FriendRequests()->empty());  // only requests to the caller
  // Only the target answers.
  CHECK(a.client().AcceptFriendRequest(*id).code() == Status::Code::kNotFound);
  REQUIRE(b.client().AcceptFriendRequest(*id).ok());
  REQUIRE_MESSAGE(a.WaitForEvent("friend.accepted"), Dump(a.seen().notifications));
  auto friends_of_alice = a.client().Friends();
  REQUIRE(friends_of_alice.ok());
  REQUIRE(friends_of_alice->size() == 1);
  CHECK((*friends_of_alice)[0].user_id == "bob");
  auto friends_of_bob = b.client().Friends();
  REQUIRE(friends_of_bob.ok());
  REQUIRE(friends_of_bob->size() == 1);
  CHECK((*friends_of_bob)[0].user_id == "alice");
  CHECK(b.client().FriendRequests()->empty());

  // A rejected request.
  Result<std::string> second = c.client().RequestFriend("bob");
  REQUIRE(second.ok());
  REQUIRE(b.WaitFor([](const Seen& s) { return s.Events("friend.request").size() == 2; }));
  REQUIRE(b.client().RejectFriendRequest(*second).ok());
  CHECK_MESSAGE(c.WaitForEvent("friend.rejected"), Dump(c.seen().notifications));
  CHECK(c.client().Friends()->empty());

  // An ended friendship.
  REQUIRE(a.client().RemoveFriend("bob").ok());
  CHECK(a.client().Friends()->empty());
  CHECK_MESSAGE(b.WaitForEvent("friend.removed"), Dump(b.seen().notifications));

  std::this_thread::sleep_for(1000ms);  // repeats would show up now
  CHECK(b.seen().Events("friend.request").size() == 2);
  CHECK(a.seen().Events("friend.accepted").size() == 1);
  for (SdkDevice* device : {&a, &b, &c}) {
    std::vector<int64_t> seqs = device->entry_seqs();
    CHECK(seqs == Range(1, static_cast<int64_t>(seqs.size())));
  }
}

TEST_CASE("client sdk: joined rooms' messages reach on_room_message; none after leaving") {
  TestStack stack;
  HttpClient http(stack.http_port());
  for (const char* user : {"alice", "bob", "carol", "dave"}) Register(http, user);
  SdkDevice a(TestOptions(stack)), b(TestOptions(stack)), c(TestOptions(stack));
  StartLive(a, "alice");
  StartLive(b, "bob");
  StartLive(c, "carol");
  for (SdkDevice* device : {&a, &b, &c}) {
    Status joined = device->client().JoinRoom("lobby");
    REQUIRE_MESSAGE(joined.ok(), joined.ToString() << "\n" << stack.AllLogTails());
  }
  CHECK(b.client().rooms() == std::vector<std::string>{"lobby"});
  CHECK(b.client().JoinRoom("lobby").ok());  // again: harmless
  SdkDevice d(TestOptions(stack));
  REQUIRE(d.client().Login("dave", PasswordOf("dave"), "phone").ok());
  CHECK(d.client().Send("room:lobby", json{{"i", -1}}).status().code() == Status::Code::kNotMember);

  std::vector<SendResult> sent = SendMany(a.client(), "room:lobby", 0, 10);
  for (size_t i = 0; i < sent.size(); ++i) {
    CHECK(sent[i].conv == "r:lobby");
    CHECK(sent[i].conv_seq == static_cast<int64_t>(i + 1));
  }
  for (SdkDevice* member : {&a, &b, &c}) {
    REQUIRE_MESSAGE(member->WaitForRoomMessages(10),
                    member->room_seqs().size() << " of 10\n"
                                               << member->StateLog() << stack.AllLogTails());
  }
  std::this_thread::sleep_for(1000ms);
  for (SdkDevice* member : {&b, &c}) {
    Seen seen = member->seen();
    REQUIRE(seen.room_messages.size() == 10);
    for (size_t i = 0; i < 10; ++i) {
      CAPTURE(i);
      CHECK(seen.room_messages[i]["id"] == sent[i].id);
      CHECK(seen.room_messages[i]["conv"] == "r:lobby");
      CHECK(seen.room_messages[i]["room_seq"] == i + 1);
      CHECK(seen.room_messages[i]["from"] == "alice");
      CHECK(seen.room_messages[i]["body"] == json{{"i", i}});
    }
    CHECK(seen.messages.empty());  // not in the inbox
  }

  // Bob leaves: nothing more of the room reaches him.
  Status left = b.client().LeaveRoom("lobby");
  REQUIRE_MESSAGE(left.ok(), left.ToString());
  CHECK(b.client().rooms().empty());
  SendMany(a.client(), "room:lobby", 10, 5);
  REQUIRE_MESSAGE(c.WaitForRoomMessages(15), c.room_seqs().size() << " of 15");
  std::this_thread::sleep_for(1000ms);
  CHECK(b.room_seqs() == Range(1, 10));
  CHECK(c.room_seqs() == Range(1, 15));

  // A broker restart: carol reconnects, subscribes to the lobby again, and misses nothing sent
  // once she is back.
  const size_t mark = c.state_count();
  stack.KillBroker();
  REQUIRE(stack.StartBroker().ok());
  REQUIRE_MESSAGE(c.WaitForState(ConnectionState::kLive, 20s, mark), c.StateLog());
  SendMany(a.client(), "room:lobby", 15, 3);
  REQUIRE_MESSAGE(c.WaitForRoomMessages(18, 20s), c.room_seqs().size()
                                                      << " of 18\n"
                                                      << c.StateLog() << stack.AllLogTails());
  std::this_thread::sleep_for(1000ms);
  CHECK(c.room_seqs() == Range(1, 18));
  CHECK(b.room_seqs() == Range(1, 10));

  // Rejoining brings the room back.
  REQUIRE(b.client().JoinRoom("lobby").ok());
  SendMany(a.client(), "room:lobby", 18, 1);
  REQUIRE(b.WaitForRoomMessages(11));
  CHECK(b.seen().room_messages.back()["room_seq"] == 19);
}

TEST_CASE("client sdk: typing and presence signals reach on_signal, outside the inbox order") {
  TestStack stack;
  HttpClient http(stack.http_port());
  for (const char* user : {"alice", "bob"}) Register(http, user);
  SdkDevice a(TestOptions(stack)), b(TestOptions(stack));
  StartLive(a, "alice");
  StartLive(b, "bob");

  REQUIRE(a.client().SendSignal("user:bob", "typing").ok());
  REQUIRE_MESSAGE(b.WaitFor([](const Seen& s) { return !s.signals.empty(); }), stack.AllLogTails());
  json typing = b.seen().signals.front();
  CHECK(typing["type"] == "signal");
  CHECK(typing["kind"] == "typing");
  CHECK(typing["from"] == "alice");
  CHECK(typing["conv"] == "u:alice:bob");
  CHECK_FALSE(typing.contains("seq"));
  CHECK(b.seen().entries.empty());

  // Friends learn when the other comes and goes.
  Result<std::string> id = a.client().RequestFriend("bob");
  REQUIRE(id.ok());
  REQUIRE(b.WaitForEvent("friend.request"));
  REQUIRE(b.client().AcceptFriendRequest(*id).ok());
  REQUIRE(a.WaitForEvent("friend.accepted"));
  auto online = a.client().GetPresence({"alice", "bob"});
  REQUIRE_MESSAGE(online.ok(), online.status().ToString());
  CHECK(online->at("bob").online);
  CHECK(online->at("alice").online);

  auto presence_of_bob = [](bool up) {
    return [up](const Seen& s) {
      for (const json& signal : s.signals) {
        if (signal.value("kind", "") == "presence" && signal.value("from", "") == "bob" &&
            signal.value("online", !up) == up) {
          return true;
        }
      }
      return false;
    };
  };
  b.client().Stop();  // a clean disconnect: offline at once
  CHECK_MESSAGE(a.WaitFor(presence_of_bob(false)), Dump(a.seen().signals));
  auto offline = a.client().GetPresence({"bob"});
  REQUIRE(offline.ok());
  CHECK_FALSE(offline->at("bob").online);
  CHECK(offline->at("bob").last_seen_ms > 0);
  REQUIRE(b.client().Start().ok());
  CHECK_MESSAGE(a.WaitFor(presence_of_bob(true)), Dump(a.seen().signals));
  std::vector<int64_t> seqs = a.entry_seqs();
  CHECK(seqs == Range(1, static_cast<int64_t>(seqs.size())));
}

TEST_CASE("client sdk: conversations, history, read marks, recalls and blocks") {
  TestStack stack;
  HttpClient http(stack.http_port());
  for (const char* user : {"alice", "bob"}) Register(http, user);
  SdkDevice a(TestOptions(stack)), b(TestOptions(stack));
  StartLive(a, "alice");
  StartLive(b, "bob");
  const std::string conv = "u:alice:bob";

  std::vector<SendResult> sent = SendMany(a.client(), "user:bob", 0, 3);
  REQUIRE(b.WaitForMessages(3));
  auto conversations = b.client().Conversations();
  REQUIRE_MESSAGE(conversations.ok(), conversations.status().ToString());
  REQUIRE(conversations->size() == 1);
  CHECK((*conversations)[0].conv == conv);
  CHECK((*conversations)[0].unread == 3);
  CHECK((*conversations)[0].last["id"] == sent[2].id);
  CHECK(b.client().Conversations(1)->size() == 1);

  auto page = b.client().History(conv);
  REQUIRE_MESSAGE(page.ok(), page.status().ToString());
  REQUIRE(page->items.size() == 3);
  CHECK(page->items[0]["conv_seq"] == 3);  // newest first
  CHECK(page->items[2]["id"] == sent[0].id);
  CHECK_FALSE(page->has_more);
  auto older = b.client().History(conv, /*before=*/3, /*limit=*/1);
  REQUIRE(older.ok());
  REQUIRE(older->items.size() == 1);
  CHECK(older->items[0]["conv_seq"] == 2);
  CHECK(older->has_more);

  REQUIRE(b.client().MarkRead(conv, 3).ok());
  CHECK_MESSAGE(a.WaitForEvent("receipt.read"), Dump(a.seen().notifications));
  CHECK(b.client().Conversations()->at(0).unread == 0);

  Status recalled = a.client().Recall(sent[2].id);
  REQUIRE_MESSAGE(recalled.ok(), recalled.ToString());
  REQUIRE_MESSAGE(b.WaitForEvent("message.recalled"), Dump(b.seen().notifications));
  CHECK(b.seen().Events("message.recalled").front()["data"]["id"] == sent[2].id);
  CHECK_FALSE(b.client().Recall(sent[1].id).ok());  // only the sender recalls

  REQUIRE(b.client().Block("alice").ok());
  CHECK(*b.client().Blocks() == std::vector<std::string>{"alice"});
  CHECK(a.client().Send("user:bob", json{{"i", 3}}).status().code() == Status::Code::kBlocked);
  REQUIRE(b.client().Unblock("alice").ok());
  CHECK(b.client().Blocks()->empty());
  CHECK(a.client().Send("user:bob", json{{"i", 4}}).ok());
  REQUIRE(b.WaitForMessages(4));
  std::vector<int64_t> seqs = b.entry_seqs();
  CHECK(seqs == Range(1, static_cast<int64_t>(seqs.size())));
}

// ----- The CLI.

#ifdef COURIER_CLI_BIN

struct CliRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string CliCommand(const TestStack& stack, const std::string& state_dir,
                       const std::vector<std::string>& args) {
  std::string cmd = ShellQuote(COURIER_CLI_BIN) + " --url " + ShellQuote(stack.http_url()) +
                    " --state-dir " + ShellQuote(state_dir);
  for (const std::string& a : args) cmd += " " + ShellQuote(a);
  return cmd;
}

// Runs the CLI to its end.
CliRun RunCli(const TestStack& stack, const std::string& state_dir,
              const std::vector<std::string>& args) {
  const std::string err_file = state_dir + ".stderr";
  std::string cmd = CliCommand(stack, state_dir, args) + " 2>" + ShellQuote(err_file);
  CliRun run;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) run.out.append(buf, n);
  int status = pclose(p);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.err = ReadFile(err_file);
  return run;
}

TEST_CASE("client sdk: the courier CLI registers, logs in, sends and listens") {
  TestStack stack;
  const std::string dir = stack.data_dir() + "/cli";
  auto run = [&](const std::vector<std::string>& args) { return RunCli(stack, dir, args); };

  CliRun reg = run({"register", "alice", "--password", "pa"});
  REQUIRE_MESSAGE(reg.exit_code == 0, reg.err);
  CHECK(json::parse(reg.out) == json{{"user_id", "alice"}});
  REQUIRE(run({"register", "bob", "--password", "pb", "--display-name", "Bob"}).exit_code == 0);
  CliRun taken = run({"register", "bob", "--password", "pb"});
  CHECK(taken.exit_code == 1);
  CHECK(taken.err.find("conflict") != std::string::npos);

  CliRun login = run({"login", "alice", "--password", "pa", "--device", "laptop"});
  REQUIRE_MESSAGE(login.exit_code == 0, login.err);
  json login_out = json::parse(login.out);
  CHECK(Keys(login_out) == std::set<std::string>{"user_id", "device_id", "expires_at"});
  CHECK(login_out["user_id"] == "alice");
  const std::string session_file = dir + "/alice.laptop.session.json";
  CHECK((std::filesystem::status(session_file).permissions() & std::filesystem::perms::all) ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
  CHECK(run({"login", "alice", "--password", "nope", "--device", "laptop"}).exit_code == 1);
  CliRun bob_login = run({"login", "bob", "--password", "pb", "--device", "phone", "--show-token"});
  REQUIRE(bob_login.exit_code == 0);
  CHECK(json::parse(bob_login.out)["token"].is_string());

  // Bob listens in the background for one entry.
  ChildProcess listener;
  const std::string listen_out = dir + "/listen.out";
  REQUIRE(listener
              .Start({{"/bin/sh", "-c",
                       "exec " +
                           CliCommand(stack, dir,
                                      {"listen", "--as", "bob", "--device", "phone", "--count", "1",
                                       "--timeout", "20"}) +
                           " >" + ShellQuote(listen_out)},
                      {},
                      {},
                      dir + "/listen.err"})
              .ok());

  CliRun sent = run({"send", "--as", "alice", "--device", "laptop", "--to", "user:bob", "--cmid",
                     "cli-1", "--text", "hi bob"});
  REQUIRE_MESSAGE(sent.exit_code == 0, sent.err);
  json sent_out = json::parse(sent.out);
  CHECK(sent_out["cmid"] == "cli-1");
  CHECK(sent_out["duplicate"] == false);
  CHECK(sent_out["conv"] == "u:alice:bob");
  CliRun resent = run({"send", "--as", "alice", "--device", "laptop", "--to", "user:bob", "--cmid",
                       "cli-1", "--body", R"({"text":"hi bob"})"});
  REQUIRE(resent.exit_code == 0);
  CHECK(json::parse(resent.out)["duplicate"] == true);
  CHECK(json::parse(resent.out)["id"] == sent_out["id"]);

  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (listener.Running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  REQUIRE_MESSAGE(!listener.Running(), listener.LogTail());
  CHECK_MESSAGE(listener.exit_code() == 0, listener.ExitDescription() << "\n"
                                                                      << listener.LogTail());
  std::string printed = ReadFile(listen_out);
  REQUIRE_MESSAGE(std::count(printed.begin(), printed.end(), '\n') == 1, printed);
  json envelope = json::parse(printed);
  CHECK(envelope["seq"] == 1);
  CHECK(envelope["id"] == sent_out["id"]);
  CHECK(envelope["body"] == json{{"text", "hi bob"}});
  CHECK(envelope["from"] == "alice");

  // The cursor moved past it: a second listen has nothing to print and times out.
  CliRun again =
      run({"listen", "--as", "bob", "--device", "phone", "--count", "1", "--timeout", "2"});
  CHECK(again.exit_code == 1);
  CHECK(again.out.empty());
  CHECK(again.err.find("timed out") != std::string::npos);

  CliRun page = run({"sync", "--as", "bob", "--device", "phone", "--after", "0"});
  REQUIRE(page.exit_code == 0);
  json page_out = json::parse(page.out);
  REQUIRE(page_out["items"].size() == 1);
  CHECK(page_out["items"][0] == envelope);
  CliRun acked = run({"ack", "--as", "bob", "--device", "phone", "--seq", "1"});
  REQUIRE(acked.exit_code == 0);
  CHECK(json::parse(acked.out)["latest_seq"] == 1);

  // Failures: the server's refusal (1), no saved session (1), a wrong command line (2).
  CliRun nobody =
      run({"send", "--as", "alice", "--device", "laptop", "--to", "user:carol", "--text", "x"});
  CHECK(nobody.exit_code == 1);
  CHECK(nobody.err.find("not_found") != std::string::npos);
  CliRun stranger =
      run({"send", "--as", "carol", "--device", "x", "--to", "user:bob", "--text", "x"});
  CHECK(stranger.exit_code == 1);
  CHECK(stranger.err.find("not logged in") != std::string::npos);
  CHECK(run({"send", "--as", "alice", "--device", "laptop", "--to", "user:bob"}).exit_code == 2);
  CHECK(run({"send", "--as", "alice", "--device", "laptop", "--to", "user:bob", "--body", "{"})
            .exit_code == 2);
  CHECK(run({"frobnicate"}).exit_code == 2);
  CHECK(run({"listen", "--help"}).exit_code == 0);

  CliRun logout = run({"logout", "--as", "bob", "--device", "phone"});
  CHECK(logout.exit_code == 0);
  CHECK_FALSE(std::filesystem::exists(dir + "/bob.phone.session.json"));
}

TEST_CASE("client sdk: the courier CLI's group, friend, block, room and conversation commands") {
  TestStack stack;
  const std::string dir = stack.data_dir() + "/cli";
  auto run = [&](const std::vector<std::string>& args) { return RunCli(stack, dir, args); };
  // `args` as `user` on the device "laptop".
  auto as = [&](const std::string& user, std::vector<std::string> args) {
    args.insert(args.end(), {"--as", user, "--device", "laptop"});
    return run(args);
  };
  auto ok = [](const CliRun& r) {
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    json j = json::parse(r.out, nullptr, /*allow_exceptions=*/false);
    CHECK_MESSAGE(j.is_object(), r.out);
    return j;
  };
  for (const char* user : {"alice", "bob", "carol", "dave"}) {
    REQUIRE(run({"register", user, "--password", "pw"}).exit_code == 0);
    REQUIRE(run({"login", user, "--password", "pw", "--device", "laptop"}).exit_code == 0);
  }

  // Groups.
  json group = ok(as("alice", {"group", "create", "--name", "Book club", "--id", "club",
                               "--members", "bob,carol"}));
  CHECK(group["group_id"] == "club");
  CHECK(group["owner"] == "alice");
  CHECK(group["members"].size() == 3);
  CHECK(ok(as("bob", {"group", "show", "club"}))["members"] == group["members"]);
  CliRun stranger = as("dave", {"group", "show", "club"});
  CHECK(stranger.exit_code == 1);
  CHECK(stranger.err.find("not_member") != std::string::npos);
  json sent = ok(as("alice", {"send", "--to", "group:club", "--text", "hello club"}));
  CHECK(sent["conv"] == "g:club");
  json history = ok(as("bob", {"history", "g:club", "--limit", "10"}));
  REQUIRE(history["items"].size() == 1);
  CHECK(history["items"][0]["body"] == json{{"text", "hello club"}});
  CHECK(history["has_more"] == false);
  json conversations = ok(as("bob", {"conversations"}));
  REQUIRE(conversations["items"].size() == 1);
  CHECK(conversations["items"][0]["conv"] == "g:club");
  CHECK(ok(as("bob", {"read", "g:club", "1"})) ==
        json{{"conv", "g:club"}, {"conv_seq", 1}, {"read", true}});
  CHECK(ok(as("alice", {"group", "add", "club", "dave"}))["members"].size() == 4);
  json promoted = ok(as("alice", {"group", "role", "club", "dave", "admin"}));
  bool dave_admin = false;
  for (const auto& m : promoted["members"]) {
    dave_admin |= m["user_id"] == "dave" && m["role"] == "admin";
  }
  CHECK_MESSAGE(dave_admin, promoted.dump());
  CHECK(ok(as("alice", {"group", "remove", "club", "dave"})) ==
        json{{"group_id", "club"}, {"user_id", "dave"}, {"removed", true}});
  CHECK(ok(as("carol", {"group", "leave", "club"})) ==
        json{{"group_id", "club"}, {"user_id", "carol"}, {"left", true}});
  CHECK(ok(as("alice", {"group", "show", "club"}))["members"].size() == 2);

  // Friends.
  json request = ok(as("alice", {"friend", "request", "bob", "--note", "hi"}));
  const std::string request_id = request.value("request_id", "");
  REQUIRE_FALSE(request_id.empty());
  json requests = ok(as("bob", {"friend", "requests"}));
  REQUIRE(requests["items"].size() == 1);
  CHECK(requests["items"][0]["request_id"] == request_id);
  CHECK(requests["items"][0]["from"] == "alice");
  CHECK(requests["items"][0]["note"] == "hi");
  CHECK(ok(as("bob", {"friend", "accept", request_id})) ==
        json{{"request_id", request_id}, {"accepted", true}});
  json friends = ok(as("alice", {"friend", "list"}));
  REQUIRE(friends["items"].size() == 1);
  CHECK(friends["items"][0]["user_id"] == "bob");
  json other = ok(as("carol", {"friend", "request", "bob"}));
  CHECK(ok(as("bob", {"friend", "reject", other["request_id"]})) ==
        json{{"request_id", other["request_id"]}, {"rejected", true}});
  CHECK(ok(as("alice", {"friend", "remove", "bob"})) ==
        json{{"user_id", "bob"}, {"removed", true}});
  CHECK(ok(as("alice", {"friend", "list"}))["items"].empty());

  // Blocks.
  CHECK(ok(as("bob", {"block", "alice"})) == json{{"user_id", "alice"}, {"blocked", true}});
  CHECK(ok(as("bob", {"blocks"})) == json{{"items", {{{"user_id", "alice"}}}}});
  CliRun blocked = as("alice", {"send", "--to", "user:bob", "--text", "x"});
  CHECK(blocked.exit_code == 1);
  CHECK(blocked.err.find("blocked") != std::string::npos);
  CHECK(ok(as("bob", {"unblock", "alice"})) == json{{"user_id", "alice"}, {"blocked", false}});
  json direct = ok(as("alice", {"send", "--to", "user:bob", "--text", "again"}));
  CHECK(ok(as("alice", {"recall", direct["id"]})) ==
        json{{"id", direct["id"]}, {"recalled", true}});

  // Signals and presence.
  CHECK(ok(as("alice", {"signal", "user:bob", "typing"})) ==
        json{{"to", "user:bob"}, {"kind", "typing"}, {"sent", true}});
  json presence = ok(as("alice", {"presence", "alice,bob"}));
  CHECK(Keys(presence) == std::set<std::string>{"alice", "bob"});
  CHECK(presence["bob"]["online"] == false);

  // Rooms: carol listens on a device of her own (another platform, so her laptop stays logged
  // in), alice sends.
  REQUIRE(run({"login", "carol", "--password", "pw", "--device", "tablet", "--platform", "desktop"})
              .exit_code == 0);
  CHECK(ok(as("alice", {"room", "join", "lobby"})) == json{{"room_id", "lobby"}, {"joined", true}});
  ChildProcess listener;
  const std::string listen_out = dir + "/room.out";
  const std::string listen_err = dir + "/room.err";
  REQUIRE(listener
              .Start({{"/bin/sh", "-c",
                       "exec " +
                           CliCommand(stack, dir,
                                      {"room", "listen", "lobby", "--as", "carol", "--device",
                                       "tablet", "--count", "2", "--timeout", "20"}) +
                           " >" + ShellQuote(listen_out)},
                      {},
                      {},
                      listen_err})
              .ok());
  auto deadline = std::chrono::steady_clock::now() + 15s;
  while (ReadFile(listen_err).find("listening to room") == std::string::npos &&
         listener.Running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  REQUIRE_MESSAGE(ReadFile(listen_err).find("listening to room lobby") != std::string::npos,
                  ReadFile(listen_err));
  json first = ok(as("alice", {"room", "send", "lobby", "--text", "one"}));
  CHECK(first["conv"] == "r:lobby");
  ok(as("alice", {"send", "--to", "room:lobby", "--body", R"({"text":"two"})"}));
  deadline = std::chrono::steady_clock::now() + 20s;
  while (listener.Running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  REQUIRE_MESSAGE(!listener.Running(), ReadFile(listen_err));
  CHECK_MESSAGE(listener.exit_code() == 0, ReadFile(listen_err));
  const std::string out = ReadFile(listen_out);
  std::istringstream lines(out);
  std::vector<json> printed;
  for (std::string line; std::getline(lines, line);) {
    printed.push_back(json::parse(line, nullptr, /*allow_exceptions=*/false));
  }
  REQUIRE_MESSAGE(printed.size() == 2, out);
  REQUIRE_MESSAGE(printed[0].is_object(), out);
  REQUIRE_MESSAGE(printed[1].is_object(), out);
  CHECK(printed[0]["room_seq"] == 1);
  CHECK(printed[0]["body"] == json{{"text", "one"}});
  CHECK(printed[1]["room_seq"] == 2);
  CHECK(printed[1]["from"] == "alice");
  // The room listener left the tablet's inbox alone: it saved no cursor.
  CHECK_FALSE(std::filesystem::exists(dir + "/carol.tablet.cursor"));
  CHECK(ok(as("alice", {"room", "leave", "lobby"})) == json{{"room_id", "lobby"}, {"left", true}});
  CliRun gone = as("alice", {"room", "send", "lobby", "--text", "x"});
  CHECK(gone.exit_code == 1);
  CHECK(gone.err.find("not_member") != std::string::npos);

  // Usage errors.
  CHECK(run({"group"}).exit_code == 2);
  CHECK(as("alice", {"group", "remove", "club", "bob", "carol"}).exit_code == 2);
  CHECK(as("alice", {"room", "send", "lobby"}).exit_code == 2);
  CHECK(as("alice", {"read", "g:club", "zero"}).exit_code == 2);
  CHECK(as("alice", {"group", "create", "--name", "x", "--members", "not valid"}).exit_code == 2);
  CHECK(run({"friend", "--help"}).exit_code == 0);
}

#else

TEST_CASE("client sdk: the courier CLI registers, logs in, sends and listens") {
  FAIL(
      "COURIER_CLI_BIN is not defined: tests/integration/CMakeLists.txt needs "
      "target_compile_definitions(courier_integration_tests PRIVATE "
      "COURIER_CLI_BIN=\"$<TARGET_FILE:courier>\")");
}

#endif

}  // namespace
}  // namespace courier::testing
