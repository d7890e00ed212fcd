// Delivery through faults (SPEC §1.2, §5; design "Delivery"): the delivery streams
// {dq:<n>}:deliveries hold every push until the broker acknowledged it, so
//   - the deliveries a killed downlink had read but not acknowledged are taken over (XAUTOCLAIM)
//     and pushed by the downlink that takes its shards once their leases expire;
//   - a broker killed and restarted while messages are sent loses nothing: a device that
//     reconnects and syncs after its last pushed seq has every message, once;
//   - while the broker is down sends are accepted and their pushes wait in the streams; they are
//     pushed, not dropped, when it returns;
//   - a delivery that failed twice in a row (a new batch, then the re-read of the pending list) is
//     still published again as soon as the broker is back, not only by the 30 s claim;
//   - an uplink killed with -9 during a burst loses nothing and duplicates nothing when every send
//     is retried with its cmid, also a send that Redis stored but whose answer never left.
// Every wait is bounded; each case finishes well under 20 s.
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

// The binaries' default (--delivery-shards); the stacks here keep it.
constexpr int kShards = 4;

// {from, from+1, ..., to}.
std::set<int64_t> SeqRange(int64_t from, int64_t to) {
  std::set<int64_t> out;
  for (int64_t s = from; s <= to; ++s) out.insert(s);
  return out;
}

// The distinct seqs pushed on `topic`, as the SDK de-duplicates them.
std::set<int64_t> DistinctSeqs(const MqttDevice& d, const std::string& topic) {
  std::set<int64_t> out;
  for (const MqttMessage& m : d.MessagesOn(topic)) {
    if (m.json.is_object() && m.json.contains("seq")) out.insert(m.json["seq"].get<int64_t>());
  }
  return out;
}

// The highest seq the SDK would have delivered: every seq 1..n arrived.
int64_t LastContiguous(const std::set<int64_t>& seqs) {
  int64_t last = 0;
  while (seqs.count(last + 1)) ++last;
  return last;
}

std::string Describe(const std::set<int64_t>& s) {
  std::ostringstream out;
  out << "{";
  for (int64_t v : s) out << (v == *s.begin() ? "" : ",") << v;
  out << "} (" << s.size() << ")";
  return out.str();
}

// Polls `done` every 50 ms until it is true or `timeout` passed; returns its last answer.
bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = Steady::now() + timeout;
  while (!done()) {
    if (Steady::now() >= deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

// The consumer group's pending entries over every delivery stream: total and per consumer
// (XPENDING's summary form). nullopt-like: total -1 if Redis did not answer as expected.
struct Pending {
  long long total = -1;
  std::map<std::string, long long> by_consumer;
};
Pending PendingDeliveries(const TestStack& stack) {
  Pending p;
  long long total = 0;
  for (int shard = 0; shard < kShards; ++shard) {
    auto r = stack.RedisCommand({"XPENDING", keys::DeliveryStream(shard), "downlink"});
    if (!r.ok() || !r->is_array() || r->elements.size() != 4) return Pending{};
    total += r->elements[0].integer;
    for (const RedisValue& c : r->elements[3].elements) {
      if (c.elements.size() == 2) p.by_consumer[c.elements[0].str] += std::stoll(c.elements[1].str);
    }
  }
  p.total = total;
  return p;
}

// Entries in the delivery streams the group has not read yet (XINFO GROUPS `lag`, Redis 7), over
// every shard; -1 if Redis did not answer as expected.
long long UnreadDeliveries(const TestStack& stack) {
  long long lag = 0;
  for (int shard = 0; shard < kShards; ++shard) {
    auto r = stack.RedisCommand({"XINFO", "GROUPS", keys::DeliveryStream(shard)});
    if (!r.ok() || !r->is_array() || r->elements.size() != 1) return -1;
    const auto& fields = r->elements[0].elements;
    bool found = false;
    for (size_t i = 0; i + 1 < fields.size(); i += 2) {
      if (fields[i].str != "lag") continue;
      if (!fields[i + 1].is_integer()) return -1;  // nil: Redis cannot tell
      lag += fields[i + 1].integer;
      found = true;
    }
    if (!found) return -1;
  }
  return lag;
}

// A counter from a downlink's /metrics; -1 if absent or unreachable.
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

// How many times `needle` occurs in the log file at `path`.
int LogCount(const std::string& path, const std::string& needle) {
  const std::string log = FileTail(path, 1000000);
  int n = 0;
  for (size_t at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) ++n;
  return n;
}
bool LogContains(const std::string& path, const std::string& needle) {
  return LogCount(path, needle) > 0;
}

// Replaces the value after `flag` in argv, or appends both.
void SetFlag(std::vector<std::string>& argv, const std::string& flag, const std::string& value) {
  bool found = false;
  for (size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == flag) {
      argv[i + 1] = value;  // every occurrence: the binaries take the last one
      found = true;
    }
  }
  if (!found) {
    argv.push_back(flag);
    argv.push_back(value);
  }
}

// Thaws a SIGSTOPped process whatever fails in between.
struct Thaw {
  ChildProcess& p;
  ~Thaw() { p.Signal(SIGCONT); }
};
// The same for every process of a tier (TestStack::processes).
struct ThawAll {
  const std::vector<ChildProcess*>& ps;
  ~ThawAll() {
    for (ChildProcess* p : ps) p->Signal(SIGCONT);
  }
};

// The value after the last `flag` in a process's command line ("" without one).
std::string FlagOf(const ChildProcess& p, const std::string& flag) {
  const std::vector<std::string>& argv = p.spec().argv;
  std::string value;
  for (size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == flag) value = argv[i + 1];
  }
  return value;
}

// A counter summed over every downlink of the stack (Component::kDownlink: one in the single
// topology, two in the cluster one); -1 if one of them does not answer.
long long TierMetric(const TestStack& stack, const std::string& name) {
  long long sum = 0;
  for (int port : stack.downlink_metrics_ports()) {
    const long long v = MetricValue(port, name);
    if (v < 0) return -1;
    sum += v;
  }
  return sum;
}

// How many times `needle` occurs in the logs of every downlink of the stack.
int TierLogCount(TestStack& stack, const std::string& needle) {
  int n = 0;
  for (ChildProcess* p : stack.processes(Component::kDownlink)) {
    n += LogCount(p->spec().log_path, needle);
  }
  return n;
}

// Every delivery shard's worker has connected to every broker (each owned delivery shard has one
// connection per broker): the downlinks can push to anyone.
bool EveryShardConnected(TestStack& stack) {
  return TierLogCount(stack, "connected to broker") >=
         kShards * static_cast<int>(stack.broker_count());
}

// ---------------------------------------------------------------------------------------------

TEST_CASE(
    "delivery faults: a killed downlink's unacknowledged deliveries are taken over with its "
    "shard") {
  // Two downlinks with distinct consumer names (and so distinct MQTT client ids) share the
  // delivery shards 2/2 (a lease per shard). The cluster topology runs two; in the single one
  // the second is started here from the first one's command line with its own name and metrics
  // port.
  TestStackOptions options;
  options.downlink_args = {"--consumer-name", "dl-main"};
  TestStack stack(options);
  std::vector<ChildProcess*> downlinks = stack.processes(Component::kDownlink);
  ChildProcess extra;
  if (downlinks.size() == 1) {
    ChildSpec extra_spec = stack.process(Component::kDownlink).spec();
    SetFlag(extra_spec.argv, "--consumer-name", "dl-extra");
    SetFlag(extra_spec.argv, "--metrics-port", std::to_string(FreePort()));
    extra_spec.log_path = stack.data_dir() + "/logs/downlink-extra.log";
    REQUIRE(extra.Start(extra_spec).ok());
    downlinks.push_back(&extra);
  }
  REQUIRE(downlinks.size() == 2);
  const std::string names[2] = {FlagOf(*downlinks[0], "--consumer-name"),
                                FlagOf(*downlinks[1], "--consumer-name")};
  REQUIRE(names[0] == "dl-main");
  REQUIRE(names[1] != names[0]);
  auto owner_of = [&](int shard) {
    auto r = stack.RedisCommand({"GET", keys::DeliveryShardOwner(shard)});
    return r.ok() && r->is_string() ? r->str : std::string();
  };
  auto owned_by = [&](const std::string& name) {
    int n = 0;
    for (int shard = 0; shard < kShards; ++shard) n += owner_of(shard) == name ? 1 : 0;
    return n;
  };
  REQUIRE_MESSAGE(
      WaitUntil([&] { return owned_by(names[0]) == 2 && owned_by(names[1]) == 2; }, 15s),
      downlinks[1]->LogTail());

  HttpClient http(stack.http_port());
  Register(http, "alice");
  Register(http, "bob");
  Login alice = LogIn(http, "alice", "phone");
  Login bob = LogIn(http, "bob", "phone");
  MqttDevice phone(stack.mqtt());
  ConnectInbox(phone, bob, stack);
  // The owner of bob's shard will die; the other downlink survives.
  const int bob_shard = keys::DeliveryShard("bob", kShards);
  const std::string victim_name = owner_of(bob_shard);
  REQUIRE((victim_name == names[0] || victim_name == names[1]));
  const int victim_index = victim_name == names[0] ? 0 : 1;
  ChildProcess& victim = *downlinks[victim_index];
  ChildProcess& survivor = *downlinks[1 - victim_index];
  const std::string survivor_name = names[1 - victim_index];
  const std::string survivor_log = survivor.spec().log_path;
  const int survivor_metrics = std::stoi(FlagOf(survivor, "--metrics-port"));
  REQUIRE_MESSAGE(
      WaitUntil([&] { return LogContains(victim.spec().log_path, "connected to broker"); }, 10s),
      victim.LogTail());

  // A frozen broker sends no PUBACK: the owner of bob's shard reads his 20 deliveries in one
  // batch and keeps them pending. To make it one batch, the owner is frozen first, long enough
  // for its blocking XREADGROUP (BLOCK 1000) to time out in Redis but well within its lease;
  // then bob's broker. (Alice's own copies go to her shard, whoever owns it.)
  ChildProcess& broker = stack.BrokerProcessFor("bob");
  REQUIRE(victim.Signal(SIGSTOP));
  Thaw thaw_victim{victim};
  std::this_thread::sleep_for(1200ms);
  REQUIRE(broker.Signal(SIGSTOP));
  Thaw thaw_broker{broker};
  constexpr int kN = 20;
  std::vector<json> replies;
  for (int i = 1; i <= kN; ++i) {
    replies.push_back(SendOk(http, alice, "bob", "a-" + std::to_string(i)));
  }
  REQUIRE(victim.Signal(SIGCONT));
  auto bob_pending = [&](const std::string& consumer) -> long long {
    auto r = stack.RedisCommand({"XPENDING", keys::DeliveryStream(bob_shard), "downlink"});
    if (!r.ok() || !r->is_array() || r->elements.size() != 4) return -1;
    for (const RedisValue& c : r->elements[3].elements) {
      if (c.elements.size() == 2 && c.elements[0].str == consumer) {
        return std::stoll(c.elements[1].str);
      }
    }
    return 0;
  };
  REQUIRE_MESSAGE(WaitUntil([&] { return bob_pending(victim_name) == kN; }, 3s), victim.LogTail());
  Pending at_kill = PendingDeliveries(stack);
  // Bob's 20, and alice's copies too if it also owns her shard (if the other one does, it is
  // stuck on the first of them, waiting for a PUBACK, and has not read the others).
  CHECK(at_kill.by_consumer[victim_name] >= kN);

  // It dies for good with its deliveries unacknowledged and its leases held; the broker comes
  // back. The survivor takes its shards once the leases expire (5 s) and delivers what it left.
  const auto kill_at = Steady::now();
  victim.Kill();
  REQUIRE(broker.Signal(SIGCONT));

  const std::set<int64_t> all = SeqRange(1, kN);
  const bool pushed = WaitUntil([&] { return DistinctSeqs(phone, bob.inbox()) == all; }, 15s);
  const auto pushed_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - kill_at).count();
  CHECK_MESSAGE(pushed, "pushed " << Describe(DistinctSeqs(phone, bob.inbox())) << "\n"
                                  << FileTail(survivor_log, 40));
  CHECK(DistinctSeqs(phone, bob.inbox()) == all);  // nothing beyond 1..N
  for (const MqttMessage& m : phone.MessagesOn(bob.inbox())) {
    const int64_t s = m.json["seq"].get<int64_t>();
    REQUIRE(s >= 1);
    REQUIRE(s <= kN);
    CHECK(m.json["cmid"] == "a-" + std::to_string(s));
    CHECK(m.json["id"] == replies[s - 1]["id"]);
  }
  CHECK(owned_by(survivor_name) == kShards);

  // Nothing stays pending in any shard, and the survivor says it took over exactly what the
  // dead one held.
  const bool drained = WaitUntil([&] { return PendingDeliveries(stack).total == 0; }, 10s);
  Pending end = PendingDeliveries(stack);
  CHECK_MESSAGE(drained, "pending " << end.total << "\n" << FileTail(survivor_log, 40));
  CHECK(end.total == 0);
  CHECK(UnreadDeliveries(stack) == 0);
  CHECK(MetricValue(survivor_metrics, "courier_deliveries_claimed_total") ==
        at_kill.by_consumer[victim_name]);
  CHECK(LogContains(survivor_log, "deliveries a previous owner of the shard left pending"));
  MESSAGE(phone.MessagesOn(bob.inbox()).size()
          << " pushes for " << kN << " messages; all pushed " << pushed_ms
          << " ms after the kill (lease 5000 ms)");

  // The inbox is the record: each message once, in send order.
  std::vector<json> inbox = SyncAll(http, bob);
  REQUIRE(inbox.size() == static_cast<size_t>(kN));
  for (int i = 0; i < kN; ++i) {
    CHECK(inbox[i]["seq"] == i + 1);
    CHECK(inbox[i]["cmid"] == "a-" + std::to_string(i + 1));
  }
}

TEST_CASE(
    "delivery faults: broker killed and restarted during sends; reconnect and sync miss nothing") {
  TestStack stack;
  HttpClient http(stack.http_port());
  Register(http, "alice");
  Register(http, "bob");
  Login alice = LogIn(http, "alice", "phone");
  Login bob = LogIn(http, "bob", "phone");
  auto phone = std::make_unique<MqttDevice>(stack.mqtt());
  ConnectInbox(*phone, bob, stack);
  REQUIRE_MESSAGE(WaitUntil([&] { return EveryShardConnected(stack); }, 10s),
                  stack.LogTail(Component::kDownlink));

  // One sender, one message after another (paced), across the broker's kill -9 and restart.
  constexpr int kN = 60;
  std::vector<HttpResponse> replies;  // the sender's alone until joined
  std::atomic<int> sent{0};
  std::thread sender([&] {
    for (int i = 1; i <= kN; ++i) {
      replies.push_back(Send(http, alice, "bob", "b-" + std::to_string(i)));
      sent = i;
      std::this_thread::sleep_for(20ms);
    }
  });
  struct Join {
    std::thread& t;
    ~Join() {
      if (t.joinable()) t.join();
    }
  } join{sender};
  auto wait_sent = [&](int n) { return WaitUntil([&] { return sent.load() >= n; }, 10s); };
  REQUIRE(wait_sent(15));
  stack.KillBroker();
  const int sent_at_kill = sent.load();
  CHECK(phone->WaitForDisconnect(5s));
  REQUIRE(wait_sent(sent_at_kill + 10));  // sends while the broker is down
  Status restarted = stack.StartBroker();
  const int sent_at_restart = sent.load();
  REQUIRE_MESSAGE(restarted.ok(), restarted.ToString());
  sender.join();
  MESSAGE("broker killed after " << sent_at_kill << " sends, back after " << sent_at_restart);
  REQUIRE(replies.size() == static_cast<size_t>(kN));
  // The uplink does not need the broker to accept a message.
  for (int i = 0; i < kN; ++i) {
    CAPTURE(i);
    CHECK_MESSAGE(replies[i].status == 201, replies[i].Describe());
  }

  // What the device had when its connection broke: it resumes after its last seq in order.
  const std::set<int64_t> before = DistinctSeqs(*phone, bob.inbox());
  const int64_t last_seq = LastContiguous(before);
  MESSAGE("before the kill the device had " << Describe(before) << ", last seq " << last_seq);
  CHECK(last_seq >= 1);

  // Back: a new connection (test devices don't reconnect by themselves), subscribe, then sync.
  auto phone2 = std::make_unique<MqttDevice>(stack.mqtt());
  ConnectInbox(*phone2, bob, stack);
  std::vector<json> synced = SyncFrom(http, bob, last_seq);
  std::vector<int64_t> synced_seqs;
  for (const json& e : synced) synced_seqs.push_back(e["seq"].get<int64_t>());
  std::vector<int64_t> expected_sync;
  for (int64_t s = last_seq + 1; s <= kN; ++s) expected_sync.push_back(s);
  CHECK(synced_seqs == expected_sync);  // each seq once, in order, nothing missing

  // Pushes (before and after the restart) plus the sync: every seq 1..N, nothing else.
  std::set<int64_t> seen = before;
  for (int64_t s : DistinctSeqs(*phone2, bob.inbox())) seen.insert(s);
  for (int64_t s : synced_seqs) seen.insert(s);
  CHECK_MESSAGE(seen == SeqRange(1, kN), Describe(seen));
  // Every 2xx send is there, with the id it was given.
  std::map<int64_t, json> by_seq;
  for (const json& e : SyncAll(http, bob)) by_seq[e["seq"].get<int64_t>()] = e;
  REQUIRE(by_seq.size() == static_cast<size_t>(kN));
  for (int i = 0; i < kN; ++i) {
    if (!replies[i].ok()) continue;
    CAPTURE(i);
    CHECK(by_seq[i + 1]["cmid"] == "b-" + std::to_string(i + 1));
    CHECK(by_seq[i + 1]["id"] == replies[i].json["id"]);
  }
  // Pushes are copies of inbox entries.
  for (const MqttDevice* d : {phone.get(), phone2.get()}) {
    for (const MqttMessage& m : d->MessagesOn(bob.inbox())) {
      const int64_t s = m.json["seq"].get<int64_t>();
      REQUIRE(by_seq.count(s) == 1);
      CHECK(m.json == by_seq[s]);
    }
  }
  // The downlink reconnected to the new broker and acknowledged everything.
  CHECK_MESSAGE(
      WaitUntil([&] { return PendingDeliveries(stack).total == 0 && UnreadDeliveries(stack) == 0; },
                10s),
      stack.LogTail(Component::kDownlink));
  // And live pushes flow again to the reconnected device.
  json next = SendOk(http, alice, "bob", "b-after");
  CHECK_MESSAGE(WaitForSeq(*phone2, bob.inbox(), kN + 1, 5s), stack.LogTail(Component::kDownlink));
}

TEST_CASE(
    "delivery faults: while the broker is down pushes wait in the stream and are pushed when it "
    "returns") {
  TestStack stack;
  HttpClient http(stack.http_port());
  Register(http, "alice");
  Register(http, "bob");
  Login alice = LogIn(http, "alice", "phone");
  Login bob = LogIn(http, "bob", "phone");
  MqttDevice first(stack.mqtt());
  ConnectInbox(first, bob, stack);
  SendOk(http, alice, "bob", "c-1");
  SendOk(http, alice, "bob", "c-2");
  REQUIRE(WaitForSeq(first, bob.inbox(), 2));
  REQUIRE(WaitUntil([&] { return PendingDeliveries(stack).total == 0; }, 5s));
  // bob's 2 pushes and alice's own copies, counted just after their XACK.
  // (Over every downlink of the stack: the cluster topology runs two, sharing the shards.)
  REQUIRE(WaitUntil([&] { return TierMetric(stack, "courier_deliveries_pushed_total") == 4; }, 5s));
  const long long retried_before = TierMetric(stack, "courier_deliveries_retried_total");
  const long long pushed_before = TierMetric(stack, "courier_deliveries_pushed_total");

  const int paused_before = TierLogCount(stack, "delivery paused");
  const int connects_before = TierLogCount(stack, "connected to broker");
  // Each delivery shard's worker has its connection to each broker. With one downlink that is
  // every connection made so far; in the cluster topology the first downlink ran every shard
  // until the second took half of them, and those early connections are in its log too.
  const int connections = kShards * static_cast<int>(stack.broker_count());
  if (stack.processes(Component::kDownlink).size() == 1) {
    REQUIRE(connects_before == connections);
  } else {
    REQUIRE(connects_before >= connections);
  }

  stack.StopBroker();
  CHECK(first.WaitForDisconnect(5s));
  // The downlink notices and backs off (100 ms doubling to 5 s); it reads nothing meanwhile.
  // Each shard's worker says so once.
  REQUIRE_MESSAGE(
      WaitUntil([&] { return TierLogCount(stack, "delivery paused") == paused_before + kShards; },
                5s),
      stack.LogTail(Component::kDownlink));

  // Sends keep being accepted: the uplink needs only Redis.
  constexpr int kN = 22;  // seqs 3..22 are sent during the outage
  std::vector<json> replies(kN + 1);
  for (int s = 3; s <= kN; ++s) replies[s] = SendOk(http, alice, "bob", "c-" + std::to_string(s));
  // Their pushes wait in the streams, unread: bob's 20 and alice's 20.
  std::this_thread::sleep_for(1500ms);  // the downlink keeps trying meanwhile
  CHECK(UnreadDeliveries(stack) == 40);
  CHECK(PendingDeliveries(stack).total == 0);
  CHECK(stack.Running(Component::kDownlink));
  const long long retried_during = TierMetric(stack, "courier_deliveries_retried_total");
  MESSAGE("courier_deliveries_retried_total: " << retried_before << " before the outage, "
                                               << retried_during << " during it");

  // The broker returns. A device connects and only waits (no sync): the pushes must come. The
  // downlink is held (SIGSTOP) until the device is subscribed, so that it cannot push everything
  // in the moment between the broker's return and the device's subscription (pushes to a device
  // that is not subscribed are gone: MQTT is the fast path, sync the record).
  const std::vector<ChildProcess*> downlinks = stack.processes(Component::kDownlink);
  ThawAll thaw{downlinks};
  for (ChildProcess* d : downlinks) REQUIRE(d->Signal(SIGSTOP));
  Status started = stack.StartBroker();
  REQUIRE_MESSAGE(started.ok(), started.ToString());
  MqttDevice second(stack.mqtt());
  ConnectInbox(second, bob, stack);
  const auto resumed_at = Steady::now();
  for (ChildProcess* d : downlinks) REQUIRE(d->Signal(SIGCONT));

  const std::set<int64_t> queued = SeqRange(3, kN);
  const bool all_pushed =
      WaitUntil([&] { return DistinctSeqs(second, bob.inbox()) == queued; }, 12s);
  const auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - resumed_at).count();
  CHECK_MESSAGE(all_pushed, "pushed " << Describe(DistinctSeqs(second, bob.inbox())) << "\n"
                                      << stack.LogTail(Component::kDownlink));
  CHECK(DistinctSeqs(second, bob.inbox()) == queued);  // exactly those, by push alone
  MESSAGE("the queued pushes arrived " << took << " ms after the downlink resumed");
  for (const MqttMessage& m : second.MessagesOn(bob.inbox())) {
    const int64_t s = m.json["seq"].get<int64_t>();
    REQUIRE(s >= 3);
    REQUIRE(s <= kN);
    CHECK(m.json["cmid"] == "c-" + std::to_string(s));
    CHECK(m.json["id"] == replies[s]["id"]);
  }
  // In order, too: one downlink publishes a stream's batch in order on one connection.
  std::vector<int64_t> order;
  for (const MqttMessage& m : second.MessagesOn(bob.inbox())) order.push_back(m.json["seq"]);
  CHECK(std::is_sorted(order.begin(), order.end()));
  // All 40 read and acknowledged (bob's and alice's), and the downlink says it recovered.
  CHECK(WaitUntil(
      [&] { return PendingDeliveries(stack).total == 0 && UnreadDeliveries(stack) == 0; }, 5s));
  CHECK(WaitUntil([&] { return TierLogCount(stack, "delivering again after") > 0; }, 5s));
  // By itself: each shard's worker connected again to each broker, once.
  CHECK(TierLogCount(stack, "connected to broker") == connects_before + connections);
  CHECK(WaitUntil(
      [&] { return TierMetric(stack, "courier_deliveries_pushed_total") == pushed_before + 40; },
      5s));
}

// One thread sends cmid <prefix>1..<prefix>N from `from` to bob one after another, as fast as
// answers come, each retried with the same cmid until 200/201 (at most kAttempts tries, 50 ms
// apart): what a client does when a send gets no answer.
class RetryingSender {
 public:
  static constexpr int kAttempts = 200;
  struct Outcome {
    HttpResponse final;
    int attempts = 0;
    std::vector<int> failed_statuses;  // of the attempts before the last
  };

  RetryingSender(const HttpClient& http, const Login& from, std::string prefix, int n)
      : outcomes_(n + 1) {
    thread_ = std::thread([this, &http, &from, prefix, n] {
      for (int i = 1; i <= n; ++i) {
        Outcome& o = outcomes_[i];
        for (o.attempts = 1; o.attempts <= kAttempts; ++o.attempts) {
          o.final = Send(http, from, "bob", prefix + std::to_string(i));
          if (o.final.status == 200 || o.final.status == 201) break;
          o.failed_statuses.push_back(o.final.status);
          std::this_thread::sleep_for(50ms);
        }
        done_ = i;
      }
    });
  }
  ~RetryingSender() { Join(); }
  RetryingSender(const RetryingSender&) = delete;
  RetryingSender& operator=(const RetryingSender&) = delete;

  // Sends finished (answered 2xx or given up).
  int done() const { return done_.load(); }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  // REQUIRES: Join()ed.
  const Outcome& outcome(int i) const { return outcomes_[i]; }

 private:
  std::vector<Outcome> outcomes_;  // the thread's alone until joined
  std::atomic<int> done_{0};
  std::thread thread_;
};

// Every send ended 200/201; the failed attempts got no answer (or 503); a 200 only after a failed
// attempt. Counts the sends retried and the 200s.
void CheckOutcomes(const RetryingSender& sender, int n, int* retried, int* duplicates) {
  *retried = 0;
  *duplicates = 0;
  for (int i = 1; i <= n; ++i) {
    const RetryingSender::Outcome& o = sender.outcome(i);
    CAPTURE(i);
    REQUIRE_MESSAGE((o.final.status == 200 || o.final.status == 201), o.final.Describe());
    if (o.attempts > 1) ++*retried;
    for (int s : o.failed_statuses) CHECK_MESSAGE((s == 0 || s == 503), "attempt answered " << s);
    if (o.final.status == 200) {
      ++*duplicates;
      CHECK(o.attempts > 1);
    }
  }
}

// Each inbox (the recipient's and the sender's own) holds cmid <prefix>1..N exactly once: seq and
// conv_seq 1..N contiguous, in send order, each with the id and ts its final answer gave.
void CheckEachOnce(const HttpClient& http, const std::vector<const Login*>& inboxes,
                   const RetryingSender& sender, const std::string& prefix, int n) {
  for (const Login* who : inboxes) {
    CAPTURE(who->user);
    std::vector<json> inbox = SyncAll(http, *who);
    REQUIRE(inbox.size() == static_cast<size_t>(n));
    std::set<std::string> cmids;
    for (int i = 1; i <= n; ++i) {
      const json& e = inbox[i - 1];
      CAPTURE(i);
      CHECK(e["seq"] == i);
      CHECK(e["conv_seq"] == i);
      CHECK(e["cmid"] == prefix + std::to_string(i));
      CHECK(e["id"] == sender.outcome(i).final.json["id"]);
      CHECK(e["ts"] == sender.outcome(i).final.json["ts"]);
      cmids.insert(e["cmid"].get<std::string>());
    }
    CHECK(cmids.size() == static_cast<size_t>(n));
  }
}

// The uplink stack of the two cases below: no downlink (not under test), and a rate limit above
// the burst (the default 50/s, burst 100, is not under test either).
TestStackOptions UplinkFaultOptions() {
  TestStackOptions options;
  options.start_downlink = false;
  options.uplink_args = {"--send-rate", "10000", "--send-burst", "10000"};
  return options;
}

TEST_CASE(
    "delivery faults: uplink killed with -9 during a burst; cmid retries leave each message once") {
  TestStack stack(UplinkFaultOptions());
  HttpClient http(stack.http_port());
  http.set_timeout(3000ms);
  Register(http, "alice");
  Register(http, "bob");
  Login alice = LogIn(http, "alice", "phone");
  Login bob = LogIn(http, "bob", "phone");

  constexpr int kN = 200;
  RetryingSender sender(http, alice, "d-", kN);
  // Kill it mid-burst: the sender is nearly always inside a request, so one is cut off in flight.
  for (int i = 0; i < 10000 && sender.done() < 40; ++i) std::this_thread::sleep_for(1ms);
  REQUIRE(sender.done() >= 40);
  stack.KillUplink();
  const int done_at_kill = sender.done();
  std::this_thread::sleep_for(500ms);
  Status restarted = stack.StartUplink();
  REQUIRE_MESSAGE(restarted.ok(), restarted.ToString());
  REQUIRE(WaitUntil([&] { return sender.done() == kN; }, 15s));
  sender.Join();

  int retried = 0, duplicates = 0;
  CheckOutcomes(sender, kN, &retried, &duplicates);
  MESSAGE("uplink killed after " << done_at_kill << " sends; " << retried << " sends retried, "
                                 << duplicates << " answered 200 (stored before the kill)");
  REQUIRE(done_at_kill < kN);  // the kill came during the burst
  CHECK(retried >= 1);
  CheckEachOnce(http, {&bob, &alice}, sender, "d-", kN);

  // Retrying again now changes nothing.
  HttpResponse again = Send(http, alice, "bob", "d-1");
  CHECK(again.status == 200);
  CHECK(again.json["id"] == sender.outcome(1).final.json["id"]);
  CHECK(Inbox(http, bob).size() == static_cast<size_t>(kN));
}

TEST_CASE(
    "delivery faults: uplink killed after Redis got the send but before it answered; the retry "
    "gets 200 and the same message") {
  // The case a plain kill hits only by chance, made certain: Redis is frozen, so a step of the
  // send in flight is queued in Redis's socket with the uplink waiting for the answer; the
  // uplink is killed (its client sees no answer) and Redis thawed, and Redis runs the queued
  // step. If the send was under way, its sender never heard so: its retry must finish and return
  // that message, not make a second one.
  TestStack stack(UplinkFaultOptions());
  HttpClient http(stack.http_port());
  http.set_timeout(3000ms);
  Register(http, "alice");
  Register(http, "bob");
  Login alice = LogIn(http, "alice", "phone");
  Login bob = LogIn(http, "bob", "phone");

  constexpr int kN = 100;
  RetryingSender sender(http, alice, "e-", kN);
  for (int i = 0; i < 10000 && sender.done() < 40; ++i) std::this_thread::sleep_for(1ms);
  REQUIRE(sender.done() >= 40);
  // Every Redis process (the cluster topology: every node).
  const std::vector<ChildProcess*> redis = stack.processes(Component::kRedis);
  ThawAll thaw{redis};
  for (ChildProcess* p : redis) REQUIRE(p->Signal(SIGSTOP));
  // Well inside the uplink's Redis command timeout (2 s): the sender stops making progress.
  std::this_thread::sleep_for(300ms);
  const int done_at_kill = sender.done();
  std::this_thread::sleep_for(200ms);
  REQUIRE(sender.done() == done_at_kill);
  stack.KillUplink();
  for (ChildProcess* p : redis) REQUIRE(p->Signal(SIGCONT));
  const int in_flight = done_at_kill + 1;
  // The step of the send in flight that Redis had received ran after all (a send is a sequence
  // of single-slot steps: docs/design.md, "The send path"). If that step had opened the send
  // (its cmid record exists), the send was under way: the retry resumes it and answers 200 with
  // its message. If the kill came before (send_begin with the recipient check), the retry is a
  // new send (201).
  std::this_thread::sleep_for(500ms);
  auto opened =
      stack.RedisCommand({"HGET", keys::Cmid("alice", "e-" + std::to_string(in_flight)), "id"});
  REQUIRE(opened.ok());
  const bool was_opened = opened->is_string();
  Status restarted = stack.StartUplink();
  REQUIRE_MESSAGE(restarted.ok(), restarted.ToString());
  REQUIRE(WaitUntil([&] { return sender.done() == kN; }, 15s));
  sender.Join();

  int retried = 0, duplicates = 0;
  CheckOutcomes(sender, kN, &retried, &duplicates);
  MESSAGE("send " << in_flight << " was in flight at the kill; " << retried << " sends retried, "
                  << duplicates << " answered 200");
  CHECK(retried == 1);
  CHECK(duplicates == (was_opened ? 1 : 0));
  const RetryingSender::Outcome& lost = sender.outcome(in_flight);
  CHECK(lost.failed_statuses.front() == 0);  // no answer
  CHECK(lost.final.status == (was_opened ? 200 : 201));
  if (was_opened) CHECK(lost.final.json["id"] == opened->str);
  CheckEachOnce(http, {&bob, &alice}, sender, "e-", kN);
}

TEST_CASE(
    "delivery faults: a delivery whose re-publish also failed is pushed again once the broker is "
    "back") {
  // Design ("Delivery"): what is not acknowledged stays pending and is published again after a
  // broker outage or a lost connection. Here the same delivery fails twice in a row: first from a
  // new batch, then from the re-read of the consumer's pending list (the broker is frozen, so no
  // PUBACK comes either time). Then the broker dies and comes back, and the downlink reconnects:
  // the delivery, still pending, must reach the reconnected device without waiting for the 30 s
  // claim of stale entries.
  TestStack stack;
  HttpClient http(stack.http_port());
  Register(http, "bob");
  Login bob = LogIn(http, "bob", "phone");
  MqttDevice phone(stack.mqtt());
  ConnectInbox(phone, bob, stack);
  auto retried = [&] { return TierMetric(stack, "courier_deliveries_retried_total"); };
  REQUIRE(retried() == 0);
  // The downlink connects to the broker on its first step, after its /healthz already answers.
  REQUIRE_MESSAGE(WaitUntil([&] { return EveryShardConnected(stack); }, 10s),
                  stack.LogTail(Component::kDownlink));

  // Bob's broker (the only one in the single topology).
  ChildProcess& broker = stack.BrokerProcessFor("bob");
  REQUIRE(broker.Signal(SIGSTOP));
  Thaw thaw{broker};
  // A message to oneself: one inbox entry, one delivery.
  json first = SendOk(http, bob, "bob", "x-1");
  // Publish timeout 5 s, then a re-read of the pending list and another 5 s.
  REQUIRE_MESSAGE(WaitUntil([&] { return retried() == 2; }, 14s),
                  stack.LogTail(Component::kDownlink));
  std::this_thread::sleep_for(1000ms);  // the worker is back to reading new entries
  REQUIRE(retried() == 2);
  REQUIRE(PendingDeliveries(stack).total == 1);

  stack.KillBroker();
  Status started = stack.StartBroker();
  REQUIRE_MESSAGE(started.ok(), started.ToString());
  MqttDevice again(stack.mqtt());
  ConnectInbox(again, bob, stack);
  const auto back = Steady::now();
  const bool pushed = WaitForSeq(again, bob.inbox(), 1, 6s);
  const auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - back).count();
  CHECK_MESSAGE(pushed, "seq 1 not pushed within 6 s of the broker's return; pending "
                            << PendingDeliveries(stack).total << "\n"
                            << stack.LogTail(Component::kDownlink, 20));
  MESSAGE("seq 1 pushed: " << std::string(pushed ? "yes" : "no") << ", after " << took << " ms");
  // A later message is not pushed ahead of it.
  SendOk(http, bob, "bob", "x-2");
  REQUIRE(WaitForSeq(again, bob.inbox(), 2, 5s));
  std::vector<int64_t> order;
  for (const MqttMessage& m : again.MessagesOn(bob.inbox())) order.push_back(m.json["seq"]);
  CHECK_MESSAGE(order.front() == 1, "pushed in the order " << json(order).dump());
  CHECK(WaitUntil([&] { return PendingDeliveries(stack).total == 0; }, 3s));
}

}  // namespace
}  // namespace courier::testing
