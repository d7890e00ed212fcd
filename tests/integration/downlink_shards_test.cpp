// Downlink shards (issue #6; design "Delivery"): each delivery shard {dq:<n>} and each fan-out
// shard {fq:<n>} is owned by one live downlink at a time through a lease {dq:<n>}:owner in the
// shard's own slot; live downlinks share them ceil(shards / live) each.
//   - two downlinks split 4 + 4 shards 2/2; a clean stop hands a downlink's shards over at once;
//   - per-user push order holds with two downlinks under load, also while the second one joins
//     and takes half the shards from the first;
//   - a downlink killed with -9 mid-stream: the survivor owns all shards within the lease
//     (5 s) plus one round, and every message reaches its device by push, none lost;
//   - an owner paused past its lease (SIGSTOP) loses its shards to the other and, resumed, does
//     nothing with them: nothing lost, and the two balance again;
//   - a group's fan-out survives the death of the downlink that owns its shard;
//   - fanin.lua gives a repeated run's pushes back, so a fan-out repeated after a crash between
//     the inbox write and the push queue re-queues them.
// Every wait is bounded; each case takes seconds.
#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/keys.h"
#include "common/lua_scripts.h"
#include "tests/support/courier_api.h"
#include "tests/support/http_client.h"
#include "tests/support/mqtt_device.h"
#include "tests/support/process.h"
#include "tests/support/test_stack.h"

namespace courier::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

// This file starts its own downlinks and counts leases on one Redis: not the cluster topology.
TestStackOptions SingleTopology() {
  TestStackOptions o;
  o.topology = Topology::kSingle;
  return o;
}

constexpr int kShards = 4;  // the binaries' default --delivery-shards

bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = Steady::now() + timeout;
  while (!done()) {
    if (Steady::now() >= deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

int64_t MsSince(Steady::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - t).count();
}

// Consumer name -> shards whose lease names it, for the delivery or the fan-out shards.
std::map<std::string, int> Owners(const TestStack& stack, bool fanout) {
  std::map<std::string, int> out;
  for (int shard = 0; shard < kShards; ++shard) {
    auto r = stack.RedisCommand(
        {"GET", fanout ? keys::FanoutShardOwner(shard) : keys::DeliveryShardOwner(shard)});
    out[r.ok() && r->is_string() ? r->str : ""]++;
  }
  return out;
}

std::string Describe(const std::map<std::string, int>& owners) {
  std::ostringstream out;
  for (const auto& [name, n] : owners) out << (name.empty() ? "(none)" : name) << ":" << n << " ";
  return out.str();
}

// Both kinds of shards are owned exactly as `want` says.
bool OwnedAs(const TestStack& stack, const std::map<std::string, int>& want) {
  return Owners(stack, false) == want && Owners(stack, true) == want;
}

// The value of a metric line `name` (labels included) on a downlink's /metrics; -1 if absent.
long long MetricValue(int metrics_port, const std::string& name) {
  HttpClient http(metrics_port);
  HttpResponse r = http.Get("/metrics");
  if (r.status != 200) return -1;
  std::istringstream lines(r.body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(name + " ", 0) == 0) return std::stoll(line.substr(name.size() + 1));
  }
  return -1;
}

int MetricsPortOf(const ChildProcess& p) {
  const auto& argv = p.spec().argv;
  for (size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == "--metrics-port") return std::stoi(argv[i + 1]);
  }
  return 0;
}

const char* kOwnedDelivery = "courier_downlink_owned_shards{kind=\"delivery\"}";
const char* kOwnedFanout = "courier_downlink_owned_shards{kind=\"fanout\"}";

// What one device received on its inbox topic, as seqs in arrival order.
std::vector<int64_t> PushedSeqs(const MqttDevice& d, const std::string& topic) {
  std::vector<int64_t> out;
  for (const MqttMessage& m : d.MessagesOn(topic)) {
    if (m.json.is_object() && m.json.contains("seq")) out.push_back(m.json["seq"].get<int64_t>());
  }
  return out;
}

// Seqs in the order of their first arrival (duplicates after a crash dropped, as the SDK does).
std::vector<int64_t> FirstArrivals(const std::vector<int64_t>& seqs) {
  std::vector<int64_t> out;
  std::set<int64_t> seen;
  for (int64_t s : seqs) {
    if (seen.insert(s).second) out.push_back(s);
  }
  return out;
}

std::vector<int64_t> OneTo(int64_t n) {
  std::vector<int64_t> v;
  for (int64_t i = 1; i <= n; ++i) v.push_back(i);
  return v;
}

// Recipients with a connected device each, and senders without devices; senders run paced
// threads sending one-to-one messages to the recipients in turn.
struct Load {
  std::vector<Login> senders;
  std::vector<Login> recipients;
  std::vector<std::unique_ptr<MqttDevice>> devices;  // one per recipient
  std::vector<std::thread> threads;
  std::atomic<int> sent{0};
  std::atomic<int> failed{0};
  std::map<std::string, int> expected;       // recipient -> messages accepted for it (after Join)
  std::vector<std::vector<std::string>> to;  // per sender thread: recipients of its messages

  Load(const TestStack& stack, const HttpClient& http, int senders_n, int recipients_n) {
    for (int i = 0; i < senders_n; ++i) {
      Register(http, "snd" + std::to_string(i));
      senders.push_back(LogIn(http, "snd" + std::to_string(i), "d"));
    }
    for (int i = 0; i < recipients_n; ++i) {
      Register(http, "rcp" + std::to_string(i));
      recipients.push_back(LogIn(http, "rcp" + std::to_string(i), "phone"));
      devices.push_back(std::make_unique<MqttDevice>(stack.mqtt_port()));
    }
    // Connected side by side: one after another, each MQTT connect here takes up to ~2 s.
    std::vector<std::thread> connecting;
    std::atomic<int> connected{0};
    for (int i = 0; i < recipients_n; ++i) {
      connecting.emplace_back([&, i] {
        const Login& r = recipients[i];
        if (devices[i]->Connect(r.client_id(), r.mqtt["username"].get<std::string>(),
                                r.mqtt["password"].get<std::string>()) &&
            devices[i]->Subscribe({r.inbox()}) == std::vector<int>{1}) {
          ++connected;
        }
      });
    }
    for (auto& t : connecting) t.join();
    REQUIRE_MESSAGE(connected == recipients_n, stack.LogTail(Component::kBroker));
    to.resize(senders.size());
  }

  // Each sender sends `per_sender` messages, `pause` apart.
  void Start(int http_port, int per_sender, std::chrono::milliseconds pause) {
    for (size_t t = 0; t < senders.size(); ++t) {
      threads.emplace_back([this, t, http_port, per_sender, pause] {
        HttpClient h(http_port);
        for (int i = 0; i < per_sender; ++i) {
          const Login& r = recipients[(t * 7 + i) % recipients.size()];
          auto reply =
              Send(h, senders[t], r.user, "l" + std::to_string(t) + "-" + std::to_string(i));
          if (reply.status == 201) {
            to[t].push_back(r.user);
            ++sent;
          } else {
            ++failed;
          }
          std::this_thread::sleep_for(pause);
        }
      });
    }
  }

  void Join() {
    for (auto& t : threads) t.join();
    threads.clear();
    for (const auto& list : to) {
      for (const auto& u : list) expected[u]++;
    }
  }

  // Every recipient's device has every seq 1..expected (by push), waiting up to `timeout`.
  bool AllPushed(std::chrono::milliseconds timeout) const {
    return WaitUntil(
        [&] {
          for (size_t i = 0; i < recipients.size(); ++i) {
            auto want = expected.count(recipients[i].user) ? expected.at(recipients[i].user) : 0;
            std::set<int64_t> got;
            for (int64_t s : PushedSeqs(*devices[i], recipients[i].inbox())) got.insert(s);
            if (static_cast<int>(got.size()) != want) return false;
          }
          return true;
        },
        timeout);
  }
};

// Per device: the pushes that never came, those that came twice, and whether the first arrivals
// were in seq order; CHECKed, and summed up in a MESSAGE.
enum class Order { kStrict, kFirstArrivals, kNotChecked };
void CheckPushes(const Load& load, Order order) {
  int lost = 0, duplicated = 0, out_of_order = 0, pushes = 0;
  for (size_t i = 0; i < load.recipients.size(); ++i) {
    const Login& r = load.recipients[i];
    const int want = load.expected.count(r.user) ? load.expected.at(r.user) : 0;
    std::vector<int64_t> seqs = PushedSeqs(*load.devices[i], r.inbox());
    pushes += static_cast<int>(seqs.size());
    std::vector<int64_t> first = FirstArrivals(seqs);
    duplicated += static_cast<int>(seqs.size() - first.size());
    std::vector<int64_t> sorted = first;
    std::sort(sorted.begin(), sorted.end());
    CAPTURE(r.user);
    CHECK(sorted == OneTo(want));
    lost += want - static_cast<int>(std::min<size_t>(sorted.size(), want));
    if (first != sorted) ++out_of_order;
    if (order != Order::kNotChecked) CHECK(first == sorted);  // first arrivals in seq order
    if (order == Order::kStrict) CHECK(std::is_sorted(seqs.begin(), seqs.end()));
  }
  MESSAGE(load.sent.load() << " messages, " << pushes << " pushes to " << load.recipients.size()
                           << " devices: lost " << lost << ", duplicated " << duplicated
                           << ", devices out of order " << out_of_order);
  CHECK(lost == 0);
  if (order != Order::kNotChecked) CHECK(out_of_order == 0);
}

}  // namespace

TEST_CASE("downlink shards: two downlinks split the shards 2/2; a clean stop hands them over") {
  TestStack stack(SingleTopology());
  REQUIRE_MESSAGE(WaitUntil(
                      [&] {
                        return OwnedAs(stack, {{"downlink", 4}});
                      },
                      10s),
                  Describe(Owners(stack, false)) << "\n"
                                                 << stack.LogTail(Component::kDownlink));
  CHECK(MetricValue(stack.metrics_port(), kOwnedDelivery) == 4);

  const auto joined = Steady::now();
  REQUIRE(stack.StartExtraDownlink().ok());
  ChildProcess& extra = *stack.extra_downlinks()[0];
  const bool split = WaitUntil(
      [&] {
        return OwnedAs(stack, {{"downlink", 2}, {"downlink-1", 2}});
      },
      15s);
  CHECK_MESSAGE(split, Describe(Owners(stack, false))
                           << "/ " << Describe(Owners(stack, true)) << "\n"
                           << extra.LogTail(30));
  MESSAGE("split 2/2 " << MsSince(joined) << " ms after the second downlink started");
  CHECK(WaitUntil([&] { return MetricValue(stack.metrics_port(), kOwnedDelivery) == 2; }, 3s));
  CHECK(MetricValue(stack.metrics_port(), kOwnedFanout) == 2);
  CHECK(MetricValue(MetricsPortOf(extra), kOwnedDelivery) == 2);
  CHECK(MetricValue(MetricsPortOf(extra), kOwnedFanout) == 2);
  CHECK(MetricValue(MetricsPortOf(extra), "courier_downlinks_live") == 2);

  // A clean stop releases the leases: the other takes them in its next round (1.5 s), not
  // after the lease (5 s).
  const auto stopped = Steady::now();
  extra.Stop();
  CHECK(WaitUntil([&] { return OwnedAs(stack, {{"downlink", 4}}); }, 5s));
  const int64_t handover_ms = MsSince(stopped);
  MESSAGE("a clean stop handed 2 + 2 shards over in " << handover_ms << " ms");
  CHECK(handover_ms < 4000);
  CHECK(MetricValue(stack.metrics_port(), "courier_shard_takeovers_total{kind=\"delivery\"}") == 6);
}

TEST_CASE("downlink shards: per-user push order holds with two downlinks under load") {
  TestStackOptions options;
  options.topology = Topology::kSingle;  // its own topology (not the environment's)
  options.uplink_args = {"--send-rate", "1000", "--send-burst", "1000"};
  TestStack stack(options);
  HttpClient http(stack.http_port());
  Load load(stack, http, 4, 24);
  REQUIRE(WaitUntil([&] { return OwnedAs(stack, {{"downlink", 4}}); }, 10s));

  // 4 senders × 200 messages over about 8 s; the second downlink joins after 2 s and takes
  // half of the shards while the pushes flow.
  load.Start(stack.http_port(), 200, 35ms);
  std::this_thread::sleep_for(2s);
  const int sent_at_join = load.sent.load();
  REQUIRE(stack.StartExtraDownlink().ok());
  const bool split = WaitUntil(
      [&] {
        return OwnedAs(stack, {{"downlink", 2}, {"downlink-1", 2}});
      },
      15s);
  const int sent_at_split = load.sent.load();
  load.Join();
  CHECK_MESSAGE(split, Describe(Owners(stack, false)));
  CHECK(load.failed == 0);
  MESSAGE("second downlink joined after " << sent_at_join << " sends, shards split after "
                                          << sent_at_split << ", " << load.sent.load()
                                          << " in all");
  CHECK(sent_at_split < load.sent.load());  // the handover happened under load

  const bool pushed = load.AllPushed(20s);
  CHECK_MESSAGE(pushed, stack.LogTail(Component::kDownlink, 30));
  // A graceful handover finishes each batch before the lease moves: strictly in seq order.
  CheckPushes(load, Order::kStrict);
  // Both downlinks published.
  CHECK(MetricValue(stack.metrics_port(), "courier_deliveries_pushed_total") > 0);
  CHECK(MetricValue(MetricsPortOf(*stack.extra_downlinks()[0]), "courier_deliveries_pushed_total") >
        0);
}

TEST_CASE("downlink shards: a downlink killed mid-stream loses nothing; the survivor takes over") {
  TestStackOptions options;
  options.topology = Topology::kSingle;  // its own topology (not the environment's)
  options.uplink_args = {"--send-rate", "1000", "--send-burst", "1000"};
  TestStack stack(options);
  HttpClient http(stack.http_port());
  Load load(stack, http, 4, 24);
  REQUIRE(stack.StartExtraDownlink().ok());
  ChildProcess& survivor = *stack.extra_downlinks()[0];
  REQUIRE_MESSAGE(WaitUntil(
                      [&] {
                        return OwnedAs(stack, {{"downlink", 2}, {"downlink-1", 2}});
                      },
                      15s),
                  Describe(Owners(stack, false)));

  load.Start(stack.http_port(), 250, 35ms);  // about 10 s: sends go on past the takeover
  std::this_thread::sleep_for(2s);
  const int sent_at_kill = load.sent.load();
  const auto killed = Steady::now();
  const pid_t pid = stack.process(Component::kDownlink).pid();
  stack.KillDownlink();  // SIGKILL to that PID: no lease is released
  const bool took = WaitUntil([&] { return OwnedAs(stack, {{"downlink-1", 4}}); }, 12s);
  const int64_t takeover_ms = MsSince(killed);
  const int sent_at_takeover = load.sent.load();
  load.Join();
  CHECK_MESSAGE(took, Describe(Owners(stack, false)) << "\n" << survivor.LogTail(30));
  MESSAGE("downlink (pid " << pid << ") killed after " << sent_at_kill
                           << " sends; the survivor owned all 8 shards " << takeover_ms
                           << " ms later (lease 5000 ms, renewed every 1500 ms), after "
                           << sent_at_takeover << " sends; " << load.sent.load() << " in all");
  CHECK(takeover_ms < 5000 + 1500 + 1000);
  CHECK(load.failed == 0);

  // Every message reaches its device by push: the dead one's unacknowledged deliveries are taken
  // over with its shards and published again (duplicates allowed, nothing lost).
  const bool pushed = load.AllPushed(20s);
  CHECK_MESSAGE(pushed, survivor.LogTail(40));
  CheckPushes(load, Order::kFirstArrivals);
  CHECK(MetricValue(MetricsPortOf(survivor), "courier_shard_takeovers_total{kind=\"delivery\"}") ==
        4);
  // Nothing is left pending in any shard.
  CHECK(WaitUntil(
      [&] {
        for (int shard = 0; shard < kShards; ++shard) {
          auto r = stack.RedisCommand({"XPENDING", keys::DeliveryStream(shard), "downlink"});
          if (!r.ok() || !r->is_array() || r->elements.empty() || r->elements[0].integer != 0) {
            return false;
          }
        }
        return true;
      },
      10s));
}

TEST_CASE("downlink shards: an owner paused past its lease does nothing with its old shards") {
  TestStackOptions options;
  options.topology = Topology::kSingle;  // its own topology (not the environment's)
  options.uplink_args = {"--send-rate", "1000", "--send-burst", "1000"};
  TestStack stack(options);
  HttpClient http(stack.http_port());
  Load load(stack, http, 2, 12);
  REQUIRE(stack.StartExtraDownlink().ok());
  REQUIRE_MESSAGE(WaitUntil(
                      [&] {
                        return OwnedAs(stack, {{"downlink", 2}, {"downlink-1", 2}});
                      },
                      15s),
                  Describe(Owners(stack, false)));

  // The main downlink freezes for 7 s mid-stream (SIGSTOP: a stalled VM, say): its leases
  // expire, the other takes its shards; then it wakes up, finds them lost, and the two balance
  // again.
  load.Start(stack.http_port(), 300, 35ms);  // about 12 s
  std::this_thread::sleep_for(1500ms);
  ChildProcess& paused = stack.process(Component::kDownlink);
  REQUIRE(paused.Signal(SIGSTOP));
  struct Thaw {
    ChildProcess& p;
    ~Thaw() { p.Signal(SIGCONT); }
  } thaw{paused};
  const bool took = WaitUntil([&] { return OwnedAs(stack, {{"downlink-1", 4}}); }, 9s);
  std::this_thread::sleep_for(500ms);
  REQUIRE(paused.Signal(SIGCONT));
  const auto resumed = Steady::now();
  const bool rebalanced = WaitUntil(
      [&] {
        return OwnedAs(stack, {{"downlink", 2}, {"downlink-1", 2}});
      },
      15s);
  const int64_t rebalance_ms = MsSince(resumed);
  load.Join();
  CHECK_MESSAGE(took, Describe(Owners(stack, false)));
  CHECK_MESSAGE(rebalanced, Describe(Owners(stack, false)) << "\n" << paused.LogTail(30));
  MESSAGE("balanced 2/2 again " << rebalance_ms << " ms after the paused downlink resumed");
  CHECK(MetricValue(stack.metrics_port(), "courier_shard_leases_lost_total{kind=\"delivery\"}") ==
        2);
  CHECK(MetricValue(stack.metrics_port(), "courier_shard_leases_lost_total{kind=\"fanout\"}") == 2);
  CHECK(load.failed == 0);
  const bool pushed = load.AllPushed(20s);
  CHECK_MESSAGE(pushed, paused.LogTail(30));
  // Nothing lost; order is promised in normal operation only, so it is reported, not checked.
  CheckPushes(load, Order::kNotChecked);
}

TEST_CASE("downlink shards: a group's fan-out survives the death of the downlink owning it") {
  TestStack stack(SingleTopology());
  REQUIRE(stack.StartExtraDownlink().ok());
  HttpClient http(stack.http_port());
  constexpr int kMembers = 150;
  constexpr int kMessages = 30;
  const std::string gid = "gs1";
  std::vector<Login> members;
  std::vector<std::string> ids;
  for (int i = 0; i < kMembers; ++i) {
    std::string u = "gm" + std::to_string(i);
    Register(http, u);
    members.push_back(LogIn(http, u, "phone"));
    if (i > 0) ids.push_back(u);
  }
  CreateGroup(http, members[0], gid, ids);
  // A few members watch their pushes.
  std::vector<std::unique_ptr<MqttDevice>> devices;
  for (int i = 1; i <= 5; ++i) {
    devices.push_back(std::make_unique<MqttDevice>(stack.mqtt_port()));
    ConnectInbox(*devices.back(), members[i], stack);
  }
  REQUIRE_MESSAGE(WaitUntil(
                      [&] {
                        return OwnedAs(stack, {{"downlink", 2}, {"downlink-1", 2}});
                      },
                      15s),
                  Describe(Owners(stack, true)));
  const int shard = keys::DeliveryShard("g:" + gid, kShards);
  auto owner = stack.RedisCommand({"GET", keys::FanoutShardOwner(shard)});
  REQUIRE(owner.ok());
  REQUIRE(owner->is_string());
  const std::string dead = owner->str;

  for (int i = 1; i <= kMessages; ++i)
    SendToOk(http, members[0], "group:" + gid, "m" + std::to_string(i));
  // Kill the owner of the group's fan-out shard while it copies 30 entries into 150 inboxes.
  if (dead == "downlink") {
    stack.KillDownlink();
  } else {
    stack.extra_downlinks()[0]->Kill();
  }
  std::vector<int64_t> cursors;
  for (int i = 0; i < kMembers; i += 15) {
    auto r = stack.RedisCommand({"HGET", keys::FanIn(members[i].user), "g:" + gid});
    cursors.push_back(r.ok() && r->is_string() ? std::stoll(r->str) : 0);
  }
  auto [lo, hi] = std::minmax_element(cursors.begin(), cursors.end());
  MESSAGE("killed " << dead << " (owner of fan-out shard " << shard << "); fan-in cursors of every "
                    << "15th member then: " << *lo << ".." << *hi << " of " << kMessages + 1);

  // Every member's inbox gets every message once, in order.
  const std::string conv = "g:" + gid;
  auto conv_seqs = [&](const std::vector<json>& items) {
    std::vector<int64_t> out;
    for (const auto& e : items) {
      if (e.value("type", "") == "message" && e.value("conv", "") == conv) {
        out.push_back(e["conv_seq"].get<int64_t>());
      }
    }
    return out;
  };
  int complete = 0;
  for (const Login& m : members) {
    auto items = SyncUntil(
        http, m, [&](const std::vector<json>& it) { return conv_seqs(it).size() >= kMessages; },
        20s);
    if (conv_seqs(items) == OneTo(kMessages) && SeqsAreContiguousFromOne(items)) ++complete;
  }
  CHECK(complete == kMembers);
  // And the watching devices get every one by push.
  for (size_t i = 0; i < devices.size(); ++i) {
    const Login& m = members[i + 1];
    auto got = [&] {
      std::set<int64_t> s;
      for (const MqttMessage& p : devices[i]->MessagesOn(m.inbox())) {
        if (p.json.value("conv", "") == conv && p.json.contains("conv_seq")) {
          s.insert(p.json["conv_seq"].get<int64_t>());
        }
      }
      return s;
    };
    CAPTURE(m.user);
    CHECK(WaitUntil([&] { return got().size() == kMessages; }, 15s));
  }
}

TEST_CASE("fanin.lua: a repeated run gives back the pushes of the run it repeats") {
  TestStackOptions options;
  options.topology = Topology::kSingle;  // its own topology (not the environment's)
  options.start_broker = false;
  options.start_uplink = false;
  options.start_downlink = false;
  TestStack stack(options);
  const std::string source(lua::Source("fanin"));
  REQUIRE(!source.empty());
  auto fanin = [&](std::vector<std::string> triples) {
    std::vector<std::string> cmd = {"EVAL", source,      "1",      keys::InboxMeta("zed"),
                                    "zed",  "g:g1",      "epoch1", "1700000000000",
                                    "100",  "2592000000"};
    cmd.insert(cmd.end(), triples.begin(), triples.end());
    auto r = stack.RedisCommand(cmd);
    REQUIRE(r.ok());
    REQUIRE_MESSAGE(r->is_array(), r->str);
    std::vector<std::string> out;
    for (const auto& v : r->elements)
      out.push_back(v.is_integer() ? std::to_string(v.integer) : v.str);
    return out;
  };
  const std::string rest2 = R"("type":"message","conv":"g:g1","conv_seq":1})";
  const std::string rest3 = R"("type":"message","conv":"g:g1","conv_seq":2})";
  const std::string env1 = R"({"seq":1,"epoch":"epoch1",)" + rest2;
  const std::string env2 = R"({"seq":2,"epoch":"epoch1",)" + rest3;

  // First run: appended, nothing re-queued.
  CHECK(fanin({"2", "m:1:amy", rest2}) == std::vector<std::string>{"1", "0", "1", env1});
  // The same run again (the worker died before queueing the push): the push comes back.
  CHECK(fanin({"2", "m:1:amy", rest2}) == std::vector<std::string>{"0", "1", "1", env1});
  // A longer run: the repeated part comes back, then what is new.
  CHECK(fanin({"2", "m:1:amy", rest2, "3", "m:2:amy", rest3}) ==
        std::vector<std::string>{"1", "1", "1", env1, "2", env2});
  // Only the last run is given back; a run from before it was queued long ago.
  CHECK(fanin({"3", "m:2:amy", rest3}) == std::vector<std::string>{"0", "1", "2", env2});
  CHECK(fanin({"2", "m:1:amy", rest2}) == std::vector<std::string>{"0", "0"});
  // The inbox holds each entry once.
  auto len = stack.RedisCommand({"XLEN", keys::Inbox("zed")});
  REQUIRE(len.ok());
  CHECK(len->integer == 2);
}

}  // namespace courier::testing
