// The delivery worker against a fake queue and a fake broker: acknowledge only what the broker
// took, keep the rest pending, and turn control deliveries into a notice and a kick.
#include <doctest/doctest.h>

#include <algorithm>
#include <deque>
#include <nlohmann/json.hpp>

#include "downlink/delivery_worker.h"

namespace courier {

namespace {

class FakeQueue final : public DeliveryQueue {
 public:
  Status EnsureGroups() override { return down ? Status::Unavailable("down") : Status::Ok(); }
  Result<int64_t> TakeOver() override {
    if (down) return Status::Unavailable("down");
    // A previous owner's entries join this consumer's pending list, in stream order.
    int64_t n = static_cast<int64_t>(left_by_previous_owner.size());
    for (auto& d : left_by_previous_owner) pending.push_back(std::move(d));
    left_by_previous_owner.clear();
    std::sort(pending.begin(), pending.end(),
              [](const Delivery& a, const Delivery& b) { return a.entry_id < b.entry_id; });
    return n;
  }
  Result<std::vector<Delivery>> ReadPending(int count) override {
    if (down) return Status::Unavailable("down");
    std::vector<Delivery> out;
    // Like XREADGROUP with a cursor: each pending entry once per scan, then an empty answer.
    for (const auto& d : pending) {
      if (static_cast<int>(out.size()) == count) break;
      if (d.entry_id > cursor) out.push_back(d);
    }
    cursor = out.empty() ? "" : out.back().entry_id;
    return out;
  }
  void RewindPending() override { cursor.clear(); }
  Result<std::vector<Delivery>> ReadNew(int count, int) override {
    if (down) return Status::Unavailable("down");
    std::vector<Delivery> out;
    while (!fresh.empty() && static_cast<int>(out.size()) < count) {
      out.push_back(fresh.front());
      pending.push_back(fresh.front());
      fresh.pop_front();
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

  bool down = false;
  std::vector<Delivery> left_by_previous_owner;
  std::deque<Delivery> fresh;
  std::vector<Delivery> pending;
  std::vector<std::string> acked;
  std::string cursor;
};

class FakeBroker final : public Publisher {
 public:
  Status EnsureConnected() override {
    return connected ? Status::Ok() : Status::Unavailable("broker down");
  }
  std::vector<bool> PublishAll(const std::vector<OutgoingMessage>& messages, int) override {
    std::vector<bool> out;
    for (const auto& m : messages) {
      bool ok = accept_budget-- > 0;
      if (ok) published.push_back(m);
      out.push_back(ok);
    }
    return out;
  }

  bool connected = true;
  int accept_budget = 1 << 30;
  std::vector<OutgoingMessage> published;
};

Delivery Inbox(const std::string& id, const std::string& user, const std::string& payload) {
  Delivery d;
  d.stream = "s";
  d.entry_id = id;
  d.user_id = user;
  d.payload = payload;
  return d;
}

}  // namespace

TEST_CASE("deliveries are pushed to the user's inbox topic and acknowledged") {
  FakeQueue q;
  FakeBroker b;
  MetricsRegistry m;
  DeliveryWorker w(&q, &b, &m, {});
  q.fresh = {Inbox("1", "bob", "{\"seq\":1}"), Inbox("2", "bob", "{\"seq\":2}")};
  auto r = w.RunOnce();  // an empty pending scan, then the new entries
  REQUIRE(r.ok());
  CHECK(*r == 2);
  REQUIRE(b.published.size() == 2);
  CHECK(b.published[0].topic == "courier/u/bob");
  CHECK(b.published[1].payload == "{\"seq\":2}");
  CHECK(q.acked == std::vector<std::string>{"1", "2"});
}

TEST_CASE("what the broker did not acknowledge stays pending and is pushed again") {
  FakeQueue q;
  FakeBroker b;
  MetricsRegistry m;
  DeliveryWorker w(&q, &b, &m, {});
  REQUIRE(w.RunOnce().ok());
  q.fresh = {Inbox("1", "bob", "a"), Inbox("2", "bob", "b"), Inbox("3", "bob", "c")};
  b.accept_budget = 1;
  auto r = w.RunOnce();
  CHECK_FALSE(r.ok());
  CHECK(q.acked == std::vector<std::string>{"1"});
  CHECK(q.pending.size() == 2);

  b.accept_budget = 1 << 30;
  while (!q.pending.empty()) REQUIRE(w.RunOnce().ok());
  CHECK(q.acked == std::vector<std::string>{"1", "2", "3"});
  CHECK(b.published.back().payload == "c");
}

TEST_CASE("a delivery that fails again while being re-published is retried from the start") {
  FakeQueue q;
  FakeBroker b;
  MetricsRegistry m;
  DeliveryWorker w(&q, &b, &m, {});
  q.fresh = {Inbox("1", "bob", "a"), Inbox("2", "bob", "b")};
  b.accept_budget = 0;
  CHECK_FALSE(w.RunOnce().ok());  // both fail from a new batch
  b.accept_budget = 1;
  CHECK_FALSE(w.RunOnce().ok());  // the re-read: 1 goes out, 2 fails again
  CHECK(q.acked == std::vector<std::string>{"1"});
  b.accept_budget = 1 << 30;
  for (int i = 0; i < 3 && !q.pending.empty(); ++i) REQUIRE(w.RunOnce().ok());
  CHECK(q.acked == std::vector<std::string>{"1", "2"});  // not stranded behind the scan
}

TEST_CASE("a broker outage pauses delivery without losing anything") {
  FakeQueue q;
  FakeBroker b;
  MetricsRegistry m;
  DeliveryWorker w(&q, &b, &m, {});
  b.connected = false;
  q.fresh = {Inbox("1", "bob", "a")};
  CHECK_FALSE(w.RunOnce().ok());
  CHECK(q.fresh.size() == 1);  // not even read
  b.connected = true;
  for (int i = 0; i < 3; ++i) REQUIRE(w.RunOnce().ok());
  CHECK(q.acked == std::vector<std::string>{"1"});
}

TEST_CASE("a new owner delivers what the previous owner left pending before anything new") {
  FakeQueue q;
  FakeBroker b;
  MetricsRegistry m;
  ShardLease lease;
  lease.ExtendUntil(ShardLease::Clock::now() + std::chrono::seconds(10));
  DeliveryWorker w(&q, &b, &m, {}, &lease);
  q.left_by_previous_owner = {Inbox("1", "bob", "a"), Inbox("2", "bob", "b")};
  q.fresh = {Inbox("3", "bob", "c")};
  for (int i = 0; i < 4; ++i) REQUIRE(w.RunOnce().ok());
  REQUIRE(b.published.size() == 3);
  CHECK(b.published[0].payload == "a");
  CHECK(b.published[1].payload == "b");
  CHECK(b.published[2].payload == "c");
  CHECK(q.acked == std::vector<std::string>{"1", "2", "3"});
  CHECK(m.GetCounter("courier_deliveries_claimed_total", "").value() == 2);
}

TEST_CASE("without the shard's lease nothing is read or published") {
  FakeQueue q;
  FakeBroker b;
  MetricsRegistry m;
  ShardLease lease;  // never extended: not held
  DeliveryWorker w(&q, &b, &m, {}, &lease);
  q.fresh = {Inbox("1", "bob", "a")};
  auto r = w.RunOnce();
  CHECK(r.status().code() == Status::Code::kConflict);
  CHECK(q.fresh.size() == 1);
  CHECK(b.published.empty());

  lease.ExtendUntil(ShardLease::Clock::now() + std::chrono::seconds(10));
  for (int i = 0; i < 3; ++i) REQUIRE(w.RunOnce().ok());
  CHECK(q.acked == std::vector<std::string>{"1"});

  // A lease that ran out while the worker was paused: the next step does nothing.
  lease.ExtendUntil(ShardLease::Clock::now() - std::chrono::seconds(1));
  q.fresh = {Inbox("2", "bob", "b")};
  CHECK(w.RunOnce().status().code() == Status::Code::kConflict);
  CHECK(q.fresh.size() == 1);
  CHECK(b.published.size() == 1);
}

TEST_CASE("a control delivery becomes a device notice and a kick") {
  Delivery d;
  d.kind = Delivery::Kind::kControl;
  d.user_id = "alice";
  d.device_id = "phone";
  d.session_id = "s1";
  d.payload = R"({"type":"control"})";
  auto out = DeliveryWorker::Render(d, "root");
  REQUIRE(out.size() == 2);
  CHECK(out[0].topic == "root/d/alice/phone");
  CHECK(out[1].topic == "$CONTROL/courier/v1");
  auto kick = nlohmann::json::parse(out[1].payload);
  CHECK(kick["op"] == "kick");
  CHECK(kick["client_id"] == "alice:phone");
  CHECK(kick["session_id"] == "s1");

  d.notify = false;  // the same device logged in again: kick the old connection silently
  out = DeliveryWorker::Render(d, "root");
  REQUIRE(out.size() == 1);
  CHECK(out[0].topic == "$CONTROL/courier/v1");
}

}  // namespace courier
