// Broker sharding (issue #6): several Mosquitto brokers, each with the plugin, every user assigned
// one by rendezvous hashing over the brokers file. Users spread over three brokers exchange
// one-to-one, group and room messages; a device at the wrong broker is refused with a clear
// reason; and a fourth broker added while SDK devices are connected and messages flow ends with
// every device on its assigned broker and nothing lost, duplicated or out of order.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "client/courier_client.h"
#include "common/broker_list.h"
#include "tests/support/courier_api.h"
#include "tests/support/http_client.h"
#include "tests/support/mqtt_device.h"
#include "tests/support/test_stack.h"

namespace courier::testing {
namespace {

using client::Client;
using client::ClientOptions;
using client::ConnectionState;
using nlohmann::json;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

ClientOptions ShardOptions(const TestStack& stack) {
  ClientOptions o;
  o.base_url = stack.http_url();
  o.request_timeout = 3000ms;
  o.send_deadline = 30000ms;
  o.ack_interval = 1000ms;  // a push lost in the move is found within a second
  o.mqtt_keepalive_s = 5;
  o.reconnect = client::BackoffPolicy{100ms, 1000ms, 1.8, 0.3};
  return o;
}

// The list the stack's processes read, as they read it.
BrokerList CurrentBrokers(const TestStack& stack) {
  MqttConfig mqtt;
  mqtt.brokers_file = stack.brokers_file();
  Result<BrokerList> list = LoadBrokerList(mqtt);
  REQUIRE_MESSAGE(list.ok(), list.status().ToString());
  return *list;
}

std::string BrokerOf(const TestStack& stack, const std::string& user) {
  return CurrentBrokers(stack).For(user).advertised.ToString();
}

// `per_broker` user ids assigned to each broker of the stack's list ("<prefix>0", ...).
std::vector<std::string> UsersOnEveryBroker(const TestStack& stack, const std::string& prefix,
                                            size_t per_broker) {
  BrokerList list = CurrentBrokers(stack);
  std::map<std::string, size_t> count;
  std::vector<std::string> users;
  for (int i = 0; users.size() < per_broker * list.size() && i < 10000; ++i) {
    std::string user = prefix + std::to_string(i);
    size_t& n = count[list.For(user).internal.ToString()];
    if (n < per_broker) {
      ++n;
      users.push_back(user);
    }
  }
  REQUIRE(users.size() == per_broker * list.size());
  return users;
}

// One SDK device whose callbacks record what the app saw.
class Device {
 public:
  Device(const TestStack& stack, std::string user, std::string device, std::string platform)
      : client_(ShardOptions(stack)),
        user_(std::move(user)),
        device_(std::move(device)),
        platform_(std::move(platform)) {
    client_.on_message = [this](const json& e) { Record(&entries_, e); };
    client_.on_notification = [this](const json& e) { Record(&entries_, e); };
    client_.on_room_message = [this](const json& e) { Record(&room_, e); };
    client_.on_control = [this](const json& e) { Record(&controls_, e); };
  }

  void Start() {
    auto login = client_.Login(user_, PasswordOf(user_), device_, platform_);
    REQUIRE_MESSAGE(login.ok(), login.status().ToString());
    Status s = client_.Start();
    REQUIRE_MESSAGE(s.ok(), s.ToString());
  }

  Client& client() { return client_; }
  const std::string& user() const { return user_; }
  std::string name() const { return user_ + ":" + device_; }

  std::vector<json> entries() const { return Copy(entries_); }
  std::vector<json> room() const { return Copy(room_); }
  std::vector<json> controls() const { return Copy(controls_); }

  // Live on `broker` (host:port) within `timeout`.
  bool WaitLiveOn(const std::string& broker, std::chrono::milliseconds timeout) const {
    const auto deadline = SteadyClock::now() + timeout;
    while (SteadyClock::now() < deadline) {
      if (client_.state() == ConnectionState::kLive && client_.connected_broker() == broker) {
        return true;
      }
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

 private:
  void Record(std::vector<json>* into, const json& e) {
    std::lock_guard<std::mutex> lock(mu_);
    into->push_back(e);
  }
  std::vector<json> Copy(const std::vector<json>& from) const {
    std::lock_guard<std::mutex> lock(mu_);
    return from;
  }

  Client client_;
  const std::string user_;
  const std::string device_;
  const std::string platform_;
  mutable std::mutex mu_;
  std::vector<json> entries_;   // GUARDED_BY(mu_): messages and notifications, delivery order
  std::vector<json> room_;      // GUARDED_BY(mu_)
  std::vector<json> controls_;  // GUARDED_BY(mu_)
};

// What one device got against what it should have got (message ids).
struct Tally {
  size_t lost = 0;
  size_t duplicated = 0;
  size_t out_of_order = 0;  // inbox seq not 1 higher than the previous, or conv_seq going back
};

Tally Check(const std::vector<json>& entries, const std::set<std::string>& expected_ids) {
  Tally t;
  std::map<std::string, int> seen;
  std::map<std::string, int64_t> last_conv_seq;
  int64_t last_seq = 0;
  for (const json& e : entries) {
    const int64_t seq = e.value("seq", int64_t{0});
    if (seq != last_seq + 1) ++t.out_of_order;
    last_seq = std::max(last_seq, seq);
    if (e.value("type", "") != "message") continue;
    if (++seen[e.value("id", "")] > 1) ++t.duplicated;
    int64_t& conv = last_conv_seq[e.value("conv", "")];
    if (e.value("conv_seq", int64_t{0}) <= conv) ++t.out_of_order;
    conv = e.value("conv_seq", int64_t{0});
  }
  for (const std::string& id : expected_ids) {
    if (seen.count(id) == 0) ++t.lost;
  }
  return t;
}

bool HasAll(const std::vector<json>& entries, const std::set<std::string>& ids) {
  std::set<std::string> got;
  for (const json& e : entries) got.insert(e.value("id", ""));
  return std::includes(got.begin(), got.end(), ids.begin(), ids.end());
}

// Waits until every device holds all its expected ids; false at the deadline.
bool WaitAllDelivered(const std::vector<std::unique_ptr<Device>>& devices,
                      std::map<std::string, std::set<std::string>>& expected,
                      std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  while (SteadyClock::now() < deadline) {
    bool all = true;
    for (const auto& d : devices) all = all && HasAll(d->entries(), expected[d->user()]);
    if (all) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

}  // namespace

TEST_CASE("users on three brokers exchange one-to-one, group and room messages") {
  TestStackOptions options;
  options.topology = Topology::kSingle;  // its own topology (not the environment's)
  options.brokers = 3;
  TestStack stack(options);
  HttpClient http(stack.http_port());
  const std::vector<std::string> users = UsersOnEveryBroker(stack, "sh", 2);
  for (const std::string& u : users) Register(http, u);

  std::vector<std::unique_ptr<Device>> devices;
  for (const std::string& u : users) {
    devices.push_back(std::make_unique<Device>(stack, u, "phone", "ios"));
    devices.back()->Start();
  }
  std::set<std::string> brokers_used;
  for (const auto& d : devices) {
    const std::string broker = BrokerOf(stack, d->user());
    brokers_used.insert(broker);
    INFO(d->name(), " should be on ", broker);
    REQUIRE(d->WaitLiveOn(broker, 15s));
  }
  CHECK(brokers_used.size() == 3);

  // One-to-one: each user to the next, so every pair crosses brokers somewhere.
  std::map<std::string, std::set<std::string>> expected;
  for (size_t i = 0; i < devices.size(); ++i) {
    const std::string to = users[(i + 1) % users.size()];
    for (int k = 0; k < 3; ++k) {
      auto sent = devices[i]->client().Send("user:" + to, {{"k", k}});
      REQUIRE_MESSAGE(sent.ok(), sent.status().ToString());
      expected[users[i]].insert(sent->id);
      expected[to].insert(sent->id);
    }
  }
  // A group of everyone, two messages from each.
  auto group = devices[0]->client().CreateGroup("all", users, "shards");
  REQUIRE_MESSAGE(group.ok(), group.status().ToString());
  for (auto& d : devices) {
    for (int k = 0; k < 2; ++k) {
      auto sent = d->client().Send("group:shards", {{"g", k}});
      REQUIRE_MESSAGE(sent.ok(), sent.status().ToString());
      for (const std::string& u : users) expected[u].insert(sent->id);
    }
  }
  // A room everyone joined; messages from users on two brokers.
  for (auto& d : devices) REQUIRE(d->client().JoinRoom("lobby").ok());
  std::vector<std::string> room_ids;
  for (size_t from : {size_t{0}, devices.size() - 1}) {
    for (int k = 0; k < 3; ++k) {
      auto sent = devices[from]->client().Send("room:lobby", {{"r", k}});
      REQUIRE_MESSAGE(sent.ok(), sent.status().ToString());
      room_ids.push_back(sent->id);
    }
  }

  REQUIRE_MESSAGE(WaitAllDelivered(devices, expected, 20s), stack.AllLogTails());
  const auto deadline = SteadyClock::now() + 10s;
  for (const auto& d : devices) {
    while (d->room().size() < room_ids.size() && SteadyClock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
  }
  std::this_thread::sleep_for(300ms);  // a duplicate would arrive about now
  for (const auto& d : devices) {
    INFO(d->name());
    Tally t = Check(d->entries(), expected[d->user()]);
    CHECK(t.lost == 0);
    CHECK(t.duplicated == 0);
    CHECK(t.out_of_order == 0);
    std::vector<std::string> room_got;
    int64_t last_room_seq = 0;
    for (const json& e : d->room()) {
      room_got.push_back(e.value("id", ""));
      CHECK(e.value("room_seq", int64_t{0}) > last_room_seq);
      last_room_seq = e.value("room_seq", int64_t{0});
    }
    CHECK(room_got == room_ids);  // each once, in order
  }
}

TEST_CASE(
    "a device at the wrong broker is refused with a clear reason; GET /v1/mqtt names its own") {
  TestStackOptions options;
  options.topology = Topology::kSingle;  // its own topology (not the environment's)
  options.brokers = 2;
  TestStack stack(options);
  HttpClient http(stack.http_port());
  const std::vector<std::string> users = UsersOnEveryBroker(stack, "wr", 1);
  for (const std::string& u : users) Register(http, u);

  for (const std::string& user : users) {
    Login login = LogIn(http, user);
    const json& mqtt = login.mqtt;
    const int home = mqtt.value("port", 0);
    CHECK(TestStack::kHost + (":" + std::to_string(home)) == BrokerOf(stack, user));

    // GET /v1/mqtt: the same block, for a device already logged in.
    HttpResponse again = http.Get("/v1/mqtt", login.token);
    REQUIRE(again.status == 200);
    CHECK(again.json == mqtt);

    const size_t other = stack.broker_port(0) == home ? 1 : 0;
    MqttDevice wrong(stack.broker_port(other));
    CHECK_FALSE(wrong.Connect(user + ":phone", user, login.token));
    CHECK(FileTail(stack.broker_process(other).spec().log_path, 50)
              .find("connect denied client=" + user + ":phone") != std::string::npos);
    CHECK(FileTail(stack.broker_process(other).spec().log_path, 50)
              .find("reason=user " + user + " is assigned to broker 127.0.0.1:" +
                    std::to_string(home)) != std::string::npos);

    MqttDevice right(home);
    CHECK(right.Connect(user + ":phone", user, login.token));
  }
  // GET /v1/mqtt of an ended session: 401, which the SDK takes as the end of the session.
  Login ended = LogIn(http, users[0], "tablet");
  REQUIRE(http.Delete("/v1/sessions/current", ended.token).status == 204);
  CHECK(http.Get("/v1/mqtt", ended.token).status == 401);
  CHECK(http.Get("/v1/mqtt").status == 401);
  // The downlink's service connections are refused by none: each owned shard's publisher is
  // connected to both brokers.
  HttpClient metrics(stack.metrics_port());
  std::istringstream lines(metrics.Get("/metrics").body);
  int publishers = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("courier_mqtt_brokers_connected{", 0) != 0) continue;
    ++publishers;
    CHECK_MESSAGE(line.size() > 2, line);
    CHECK_MESSAGE(line.substr(line.size() - 2) == " 2", line);
  }
  CHECK(publishers > 0);
}

TEST_CASE("adding a fourth broker moves only its users, who reconnect and miss nothing") {
  TestStackOptions options;
  options.topology = Topology::kSingle;  // its own topology (not the environment's)
  options.brokers = 3;
  TestStack stack(options);
  HttpClient http(stack.http_port());
  constexpr int kUsers = 30;
  std::vector<std::string> users;
  for (int i = 0; i < kUsers; ++i) {
    users.push_back("mv" + std::to_string(i));
    Register(http, users.back());
  }
  // Every user a phone; the first five a desktop as well, which must meet the phone on one broker.
  std::vector<std::unique_ptr<Device>> devices;
  for (const std::string& u : users)
    devices.push_back(std::make_unique<Device>(stack, u, "phone", "ios"));
  for (int i = 0; i < 5; ++i) {
    devices.push_back(std::make_unique<Device>(stack, users[i], "desk", "desktop"));
  }
  for (auto& d : devices) d->Start();
  std::map<std::string, std::string> before;  // device -> broker
  for (const auto& d : devices) {
    before[d->name()] = BrokerOf(stack, d->user());
    INFO(d->name());
    REQUIRE(d->WaitLiveOn(before[d->name()], 15s));
  }
  const std::vector<std::string> movers = {users[0], users[1],  users[2],
                                           users[3], users[10], users[20]};
  auto group = devices[0]->client().CreateGroup("movers", movers, "movers");
  REQUIRE_MESSAGE(group.ok(), group.status().ToString());

  // Messages flow the whole time: one-to-one round the users, and now and then to the group.
  std::mutex expected_mu;
  std::map<std::string, std::set<std::string>> expected;
  std::atomic<bool> stop{false};
  std::atomic<int> sent_count{0};
  std::atomic<int> send_errors{0};
  std::thread sender([&] {
    for (int k = 0; !stop; ++k) {
      const int from = k % kUsers;
      const bool to_group = k % 7 == 0;
      const std::string to = to_group ? "group:movers" : "user:" + users[(from + 1) % kUsers];
      Device& d = *devices[to_group ? 0 : from];
      auto sent = d.client().Send(to, {{"k", k}});
      if (!sent.ok()) {
        ++send_errors;
        continue;
      }
      ++sent_count;
      std::lock_guard<std::mutex> lock(expected_mu);
      if (to_group) {
        for (const std::string& u : movers) expected[u].insert(sent->id);
      } else {
        expected[users[from]].insert(sent->id);
        expected[users[(from + 1) % kUsers]].insert(sent->id);
      }
      std::this_thread::sleep_for(5ms);
    }
  });

  std::this_thread::sleep_for(1s);
  const auto add_started = SteadyClock::now();
  Result<int> added = stack.AddBroker();
  REQUIRE_MESSAGE(added.ok(), added.status().ToString());
  const auto add_returned = SteadyClock::now();
  const std::string new_broker = std::string(TestStack::kHost) + ":" + std::to_string(*added);

  // Every device ends on the broker the new list assigns it.
  size_t moved = 0;
  for (const auto& d : devices) {
    const std::string after = BrokerOf(stack, d->user());
    INFO(d->name(), " from ", before[d->name()], " to ", after);
    if (after != before[d->name()]) {
      ++moved;
      CHECK(after == new_broker);  // rendezvous hashing moves users only to the new broker
    }
    CHECK(d->WaitLiveOn(after, 20s));
  }
  const auto all_moved = SteadyClock::now();
  std::this_thread::sleep_for(1s);  // messages keep flowing on the new layout
  stop = true;
  sender.join();
  CHECK(moved > 0);
  CHECK(send_errors == 0);

  {
    std::lock_guard<std::mutex> lock(expected_mu);
    REQUIRE_MESSAGE(WaitAllDelivered(devices, expected, 30s), stack.AllLogTails());
  }
  std::this_thread::sleep_for(500ms);  // a late duplicate would arrive about now
  Tally total;
  size_t told = 0;
  for (const auto& d : devices) {
    Tally t = Check(d->entries(), expected[d->user()]);
    total.lost += t.lost;
    total.duplicated += t.duplicated;
    total.out_of_order += t.out_of_order;
    const bool was_moved = BrokerOf(stack, d->user()) != before[d->name()];
    bool saw_moved = false;
    for (const json& c : d->controls()) saw_moved |= c.value("event", "") == "broker.moved";
    if (was_moved) {
      INFO(d->name(), " moved but got no broker.moved");
      CHECK(saw_moved);
      told += saw_moved ? 1 : 0;
    } else {
      CHECK_FALSE(saw_moved);
    }
  }
  MESSAGE("devices ", devices.size(), ", moved ", moved, " (told ", told, "), messages sent ",
          sent_count.load(), "; AddBroker (start, list, SIGHUPs) ",
          std::chrono::duration_cast<std::chrono::milliseconds>(add_returned - add_started).count(),
          " ms, then all devices live on their broker after ",
          std::chrono::duration_cast<std::chrono::milliseconds>(all_moved - add_returned).count(),
          " ms; lost ", total.lost, ", duplicated ", total.duplicated, ", out_of_order ",
          total.out_of_order);
  CHECK(total.lost == 0);
  CHECK(total.duplicated == 0);
  CHECK(total.out_of_order == 0);
}

}  // namespace courier::testing
