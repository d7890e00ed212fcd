// BrokerRouter (downlink/broker_router.h) over fake broker links: a user's messages go to the
// user's broker in order, rooms and control commands to every broker, a message counts as
// acknowledged only when every broker it went to acknowledged it, a broker that is down fails
// its share at once without holding up the others, and a new list adds a connection. Also the
// delivery worker's side: with one broker of several down, the others' deliveries go on.
#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "downlink/broker_router.h"
#include "downlink/delivery_worker.h"

namespace courier {
namespace {

using std::chrono::milliseconds;

// What a fake broker saw and how it behaves; shared with its link, which the router owns.
struct FakeBroker {
  bool up = true;
  bool acks = true;  // false: takes the messages but never sends PUBACK
  int connects = 0;
  std::vector<OutgoingMessage> received;
};

class FakeLink final : public BrokerLink {
 public:
  explicit FakeLink(FakeBroker* broker) : broker_(broker) {}
  Result<bool> ConnectWithoutWaiting() override {
    if (!broker_->up) return Status::Unavailable("refused");
    if (!connected_) ++broker_->connects;
    connected_ = true;
    return true;
  }
  // Like a real connection, one lost stays lost until the router connects again.
  bool connected() const override {
    if (!broker_->up) connected_ = false;
    return connected_;
  }
  void Begin(const std::vector<const OutgoingMessage*>& messages) override {
    count_ = messages.size();
    for (const OutgoingMessage* m : messages) broker_->received.push_back(*m);
  }
  std::vector<bool> Await(std::chrono::steady_clock::time_point) override {
    return std::vector<bool>(count_, broker_->acks);
  }

 private:
  FakeBroker* broker_;
  mutable bool connected_ = false;
  size_t count_ = 0;
};

BrokerList ListOf(const std::vector<std::string>& brokers) {
  std::vector<BrokerEntry> entries;
  for (const std::string& b : brokers) {
    BrokerAddress a = *ParseBrokerAddress(b);
    entries.push_back({a, a});
  }
  return *BrokerList::Create(entries);
}

// A router over fake brokers named by their internal address.
struct Fixture {
  explicit Fixture(const std::vector<std::string>& brokers)
      : live(MqttConfig{}, ListOf(brokers)),
        router(
            &live,
            [this](const BrokerAddress& a) -> std::unique_ptr<BrokerLink> {
              return std::make_unique<FakeLink>(&fakes[a.ToString()]);
            },
            &metrics, "test") {}

  std::vector<std::string> TopicsOn(const std::string& broker) {
    std::vector<std::string> out;
    for (const auto& m : fakes[broker].received) out.push_back(m.topic);
    return out;
  }

  std::map<std::string, FakeBroker> fakes;
  MetricsRegistry metrics;
  ReloadableBrokerList live;
  BrokerRouter router;
};

OutgoingMessage ToUser(const std::string& user, const std::string& payload) {
  return {"courier/u/" + user, payload, OutgoingMessage::Route::kUser, user};
}

OutgoingMessage ToRoom(const std::string& room) {
  return {"courier/r/" + room, "{}", OutgoingMessage::Route::kEveryBroker, ""};
}

const std::vector<std::string> kThree = {"10.0.0.1:1883", "10.0.0.2:1883", "10.0.0.3:1883"};

}  // namespace

TEST_CASE("a user's messages go to the user's broker only, in order; rooms to every broker") {
  Fixture f(kThree);
  REQUIRE(f.router.EnsureConnected().ok());
  std::vector<OutgoingMessage> batch;
  std::map<std::string, std::vector<std::string>> expected;  // broker -> topics
  for (int i = 0; i < 30; ++i) {
    const std::string user = "user" + std::to_string(i % 10);
    batch.push_back(ToUser(user, std::to_string(i)));
    expected[f.live.Current()->For(user).internal.ToString()].push_back("courier/u/" + user);
    if (i % 10 == 9) {
      batch.push_back(ToRoom("lobby"));
      for (const std::string& b : kThree) expected[b].push_back("courier/r/lobby");
    }
  }
  std::vector<bool> acked = f.router.PublishAll(batch, 1000);
  CHECK(acked == std::vector<bool>(batch.size(), true));
  for (const std::string& b : kThree) {
    INFO(b);
    CHECK(f.TopicsOn(b) == expected[b]);
  }
  // Per user, the payloads in the order given.
  for (const std::string& b : kThree) {
    std::map<std::string, int> last;
    for (const auto& m : f.fakes[b].received) {
      if (m.route != OutgoingMessage::Route::kUser) continue;
      const int n = std::stoi(m.payload);
      if (auto it = last.find(m.user_id); it != last.end()) CHECK(n > it->second);
      last[m.user_id] = n;
    }
  }
  CHECK(f.router.BrokersOf(ToRoom("x")).size() == 3);
  CHECK(f.router.BrokersOf(ToUser("bob", "")) ==
        std::vector<std::string>{f.live.Current()->For("bob").internal.ToString()});
}

TEST_CASE("a broker that is down fails its share at once and holds up nobody") {
  Fixture f(kThree);
  REQUIRE(f.router.EnsureConnected().ok());
  CHECK_FALSE(f.router.PartlyUnavailable());
  CHECK(f.router.TakeReconnected());  // the first connects
  CHECK_FALSE(f.router.TakeReconnected());
  const std::string down = kThree[1];
  f.fakes[down].up = false;
  REQUIRE(f.router.EnsureConnected().ok());  // the others are up
  CHECK(f.router.PartlyUnavailable());

  std::vector<OutgoingMessage> batch;
  for (int i = 0; i < 40; ++i) batch.push_back(ToUser("u" + std::to_string(i), "x"));
  batch.push_back(ToRoom("lobby"));
  const auto start = std::chrono::steady_clock::now();
  std::vector<bool> acked = f.router.PublishAll(batch, 5000);
  CHECK(std::chrono::steady_clock::now() - start < milliseconds(1000));
  for (size_t i = 0; i < batch.size(); ++i) {
    const bool on_down = batch[i].route == OutgoingMessage::Route::kEveryBroker ||
                         f.live.Current()->For(batch[i].user_id).internal.ToString() == down;
    INFO(batch[i].topic);
    CHECK(acked[i] == !on_down);  // the room message waits for the broker that is down
  }
  CHECK(f.fakes[down].received.empty());

  // No PUBACK from a broker that is up: not acknowledged either.
  f.fakes[kThree[0]].acks = false;
  acked = f.router.PublishAll({ToRoom("lobby")}, 100);
  CHECK(acked == std::vector<bool>{false});

  // Back up: reconnected, and said so once (the worker then retries what is pending first).
  f.fakes[down].up = true;
  f.fakes[kThree[0]].acks = true;
  for (int i = 0; i < 100 && f.router.PartlyUnavailable(); ++i) {
    REQUIRE(f.router.EnsureConnected().ok());
    std::this_thread::sleep_for(milliseconds(20));  // the retry backoff, 100 ms at first
  }
  CHECK_FALSE(f.router.PartlyUnavailable());
  CHECK(f.router.TakeReconnected());
  CHECK(f.router.PublishAll({ToRoom("lobby")}, 100) == std::vector<bool>{true});

  // Every broker down: EnsureConnected fails, naming them.
  for (auto& [id, fake] : f.fakes) fake.up = false;
  Status none = f.router.EnsureConnected();
  CHECK_FALSE(none.ok());
  CHECK(none.message().find("10.0.0.1:1883") != std::string::npos);
}

TEST_CASE("a new broker list adds a connection and moves only the users of the new broker") {
  Fixture f(kThree);
  REQUIRE(f.router.EnsureConnected().ok());
  std::map<std::string, std::string> before;
  for (int i = 0; i < 200; ++i) {
    const std::string user = "u" + std::to_string(i);
    before[user] = f.router.BrokersOf(ToUser(user, "")).front();
  }
  // What a reload does: a file is not needed for the router, only a new list in `live`.
  MqttConfig mqtt;
  std::vector<std::string> four = kThree;
  four.push_back("10.0.0.4:1883");
  mqtt.brokers = "10.0.0.1:1883,10.0.0.2:1883,10.0.0.3:1883,10.0.0.4:1883";
  ReloadableBrokerList grown(mqtt, ListOf(kThree));
  REQUIRE(*grown.Reload());
  MetricsRegistry metrics;
  std::map<std::string, FakeBroker> fakes;
  BrokerRouter router(
      &grown,
      [&fakes](const BrokerAddress& a) -> std::unique_ptr<BrokerLink> {
        return std::make_unique<FakeLink>(&fakes[a.ToString()]);
      },
      &metrics, "test");
  REQUIRE(router.EnsureConnected().ok());
  CHECK(fakes.size() == 4);
  CHECK(fakes["10.0.0.4:1883"].connects == 1);
  int moved = 0;
  for (const auto& [user, broker] : before) {
    const std::string now = router.BrokersOf(ToUser(user, "")).front();
    if (now != broker) {
      ++moved;
      CHECK(now == "10.0.0.4:1883");
    }
  }
  CHECK(moved > 20);  // about a quarter of 200
  CHECK(moved < 80);
  CHECK(metrics.Render().find("courier_mqtt_brokers 4") != std::string::npos);
}

namespace {

// A delivery queue that hands out each entry once and remembers what was acknowledged.
class ListQueue final : public DeliveryQueue {
 public:
  Status EnsureGroups() override { return Status::Ok(); }
  Result<int64_t> TakeOver() override { return int64_t{0}; }
  Result<std::vector<Delivery>> ReadPending(int) override {
    std::vector<Delivery> out;
    if (!rescan) return out;
    rescan = false;
    ++rescans;
    return pending;
  }
  void RewindPending() override { rescan = true; }
  Result<std::vector<Delivery>> ReadNew(int count, int) override {
    std::vector<Delivery> out;
    while (!fresh.empty() && static_cast<int>(out.size()) < count) {
      out.push_back(fresh.front());
      pending.push_back(fresh.front());
      fresh.erase(fresh.begin());
    }
    return out;
  }
  Result<std::vector<Delivery>> ClaimStale(int64_t, int) override {
    return std::vector<Delivery>{};
  }
  Status Ack(const std::vector<const Delivery*>& done) override {
    for (const Delivery* d : done) {
      acked.push_back(d->entry_id);
      std::erase_if(pending, [&](const Delivery& p) { return p.entry_id == d->entry_id; });
    }
    return Status::Ok();
  }
  bool rescan = true;
  int rescans = 0;
  std::vector<Delivery> fresh;
  std::vector<Delivery> pending;
  std::vector<std::string> acked;
};

Delivery InboxFor(const std::string& id, const std::string& user) {
  Delivery d;
  d.stream = "s";
  d.entry_id = id;
  d.user_id = user;
  d.payload = "{}";
  return d;
}

}  // namespace

TEST_CASE("with one broker of three down, the worker delivers to the others and retries later") {
  Fixture f(kThree);
  ListQueue q;
  MetricsRegistry m;
  DeliveryWorker w(&q, &f.router, &m, {});
  REQUIRE(w.RunOnce().ok());  // connects, finds nothing
  const std::string down = kThree[2];
  f.fakes[down].up = false;
  std::vector<std::string> users_down, users_up;
  for (int i = 0; users_down.size() < 3 || users_up.size() < 3; ++i) {
    const std::string user = "u" + std::to_string(i);
    (f.live.Current()->For(user).internal.ToString() == down ? users_down : users_up)
        .push_back(user);
  }
  int id = 0;
  for (int round = 0; round < 3; ++round) {
    for (const std::string& u : users_down) q.fresh.push_back(InboxFor(std::to_string(++id), u));
    for (const std::string& u : users_up) q.fresh.push_back(InboxFor(std::to_string(++id), u));
    auto r = w.RunOnce();
    REQUIRE(r.ok());  // the brokers that are up took their share: no backoff for them
    CHECK(*r == static_cast<int>(users_up.size()));
  }
  CHECK(q.pending.size() == 3 * users_down.size());
  const int rescans_while_down = q.rescans;
  CHECK(rescans_while_down <= 2);  // not one full pending scan per batch

  f.fakes[down].up = true;
  for (int i = 0; i < 100 && !q.pending.empty(); ++i) {
    REQUIRE(w.RunOnce().ok());
    std::this_thread::sleep_for(milliseconds(20));
  }
  CHECK(q.pending.empty());
  // The broker that came back got its users' pushes in order.
  std::vector<std::string> on_down;
  for (const auto& msg : f.fakes[down].received) on_down.push_back(msg.user_id);
  std::vector<std::string> expected;
  for (int round = 0; round < 3; ++round) {
    expected.insert(expected.end(), users_down.begin(), users_down.end());
  }
  CHECK(on_down == expected);
}

}  // namespace courier

namespace courier {
namespace {

uint64_t BrokerErrors(MetricsRegistry& m, const std::string& op) {
  return m.GetCounter("courier_broker_errors_total", "", "op=\"" + op + "\",code=\"unavailable\"")
      .value();
}

}  // namespace

TEST_CASE(
    "broker failures are counted: lost connections, refused connects, unacknowledged pushes") {
  Fixture f(kThree);
  REQUIRE(f.router.EnsureConnected().ok());
  CHECK(BrokerErrors(f.metrics, "connect") == 0);
  CHECK(BrokerErrors(f.metrics, "connection_lost") == 0);
  CHECK(BrokerErrors(f.metrics, "publish") == 0);
  // Every series exists from the start, so a scraper sees them at 0.
  CHECK(f.metrics.Render().find(
            "courier_broker_errors_total{op=\"publish\",code=\"unavailable\"} 0") !=
        std::string::npos);

  const std::string down = kThree[1];
  f.fakes[down].up = false;
  std::string user_down;
  for (int i = 0; user_down.empty(); ++i) {
    const std::string user = "u" + std::to_string(i);
    if (f.live.Current()->For(user).internal.ToString() == down) user_down = user;
  }
  // Two messages for the broker that is down, and a room message, which goes to all three.
  std::vector<bool> acked =
      f.router.PublishAll({ToUser(user_down, "1"), ToUser(user_down, "2"), ToRoom("lobby")}, 1000);
  CHECK(acked == std::vector<bool>{false, false, false});
  CHECK(BrokerErrors(f.metrics, "publish") == 3);  // (broker, message) pairs: 2 + 1

  REQUIRE(f.router.EnsureConnected().ok());  // the others are up
  CHECK(BrokerErrors(f.metrics, "connection_lost") == 1);
  CHECK(BrokerErrors(f.metrics, "connect") == 1);  // the reconnect it tried at once
  REQUIRE(f.router.EnsureConnected().ok());        // within the retry delay: no new attempt
  CHECK(BrokerErrors(f.metrics, "connection_lost") == 1);

  // Taken but never acknowledged.
  f.fakes[down].up = true;
  f.fakes[kThree[0]].acks = false;
  std::this_thread::sleep_for(milliseconds(150));  // past the first retry delay
  REQUIRE(f.router.EnsureConnected().ok());
  uint64_t before = BrokerErrors(f.metrics, "publish");
  f.router.PublishAll({ToRoom("lobby")}, 10);
  CHECK(BrokerErrors(f.metrics, "publish") == before + 1);
}

}  // namespace courier
