// Shard ownership: the balance rule (how many shards a downlink owns, which it takes and which
// it gives back) and the coordinator's rounds against an in-memory lease store — two downlinks
// split the shards, a survivor takes a dead one's, a clean stop gives them back at once.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "common/keys.h"
#include "common/redis_cluster_slots.h"
#include "downlink/shard_balance.h"
#include "downlink/shard_coordinator.h"

namespace courier {

namespace {

std::vector<bool> Held(int n, std::set<int> mine) {
  std::vector<bool> held(n, false);
  for (int i : mine) held[i] = true;
  return held;
}

}  // namespace

TEST_CASE("balance: the fair share is the ceiling of shards over live downlinks") {
  CHECK(FairShare(4, 1) == 4);
  CHECK(FairShare(4, 2) == 2);
  CHECK(FairShare(4, 3) == 2);
  CHECK(FairShare(4, 5) == 1);
  CHECK(FairShare(5, 2) == 3);
  CHECK(FairShare(4, 0) == 4);  // not even itself seen: counts as one
  CHECK(FairShare(0, 3) == 0);
}

TEST_CASE("balance: a lone downlink takes every free shard") {
  BalancePlan p = PlanBalance("a", 1, {"", "", "", ""}, Held(4, {}));
  CHECK(p.release.empty());
  std::vector<int> take = p.take;
  std::sort(take.begin(), take.end());
  CHECK(take == std::vector<int>{0, 1, 2, 3});
}

TEST_CASE("balance: a second downlink makes the first give back half, and takes them") {
  // a holds all 4 and sees b alive: it gives back its two highest.
  BalancePlan a = PlanBalance("a", 2, {"a", "a", "a", "a"}, Held(4, {0, 1, 2, 3}));
  CHECK(a.release == std::vector<int>{3, 2});
  CHECK(a.take.empty());
  // b meanwhile finds nothing free...
  BalancePlan b = PlanBalance("b", 2, {"a", "a", "a", "a"}, Held(4, {}));
  CHECK(b.take.empty());
  // ...until they are released.
  b = PlanBalance("b", 2, {"a", "a", "", ""}, Held(4, {}));
  std::vector<int> take = b.take;
  std::sort(take.begin(), take.end());
  CHECK(take == std::vector<int>{2, 3});
  // Balanced: nobody moves.
  a = PlanBalance("a", 2, {"a", "a", "b", "b"}, Held(4, {0, 1}));
  CHECK(a.release.empty());
  CHECK(a.take.empty());
}

TEST_CASE("balance: the survivor takes a dead downlink's shards once their leases expired") {
  // b died: its heartbeat and leases are gone, so a is alone again with two free shards.
  BalancePlan a = PlanBalance("a", 1, {"a", "a", "", ""}, Held(4, {0, 1}));
  CHECK(a.release.empty());
  std::vector<int> take = a.take;
  std::sort(take.begin(), take.end());
  CHECK(take == std::vector<int>{2, 3});
  // While b's leases still exist, they are not taken even if b no longer counts as live.
  a = PlanBalance("a", 1, {"a", "a", "b", "b"}, Held(4, {0, 1}));
  CHECK(a.take.empty());
}

TEST_CASE("balance: a restarted downlink takes back the leases that still name it first") {
  BalancePlan a = PlanBalance("a", 2, {"", "a", "", "a"}, Held(4, {}));
  REQUIRE(a.take.size() == 2);
  CHECK(a.take == std::vector<int>{1, 3});
}

TEST_CASE("balance: never more than the shortfall, and uneven counts settle") {
  // 3 downlinks, 4 shards: at most 2 each; a third downlink may own none.
  BalancePlan c = PlanBalance("c", 3, {"a", "a", "b", "b"}, Held(4, {}));
  CHECK(c.take.empty());
  CHECK(c.release.empty());
  // 5 shards, 2 downlinks: 3 and 2.
  BalancePlan b = PlanBalance("b", 2, {"a", "a", "a", "", ""}, Held(5, {}));
  CHECK(b.take.size() == 2);
  BalancePlan a = PlanBalance("a", 2, {"a", "a", "a", "b", "b"}, Held(5, {0, 1, 2}));
  CHECK(a.release.empty());
}

TEST_CASE("balance: two downlinks looking for free shards start at different places") {
  std::vector<std::string> free(16, "");
  BalancePlan a = PlanBalance("downlink-a", 2, free, Held(16, {}));
  BalancePlan b = PlanBalance("downlink-b", 2, free, Held(16, {}));
  REQUIRE(a.take.size() == 8);
  REQUIRE(b.take.size() == 8);
  CHECK(a.take.front() != b.take.front());
}

TEST_CASE("a shard's stream and its lease are in one Redis Cluster slot") {
  for (int shard : {0, 3, 17}) {
    CHECK(KeySlot(keys::DeliveryStream(shard)) == KeySlot(keys::DeliveryShardOwner(shard)));
    CHECK(KeySlot(keys::FanoutStream(shard)) == KeySlot(keys::FanoutShardOwner(shard)));
  }
}

namespace {

// Leases and heartbeats in memory; "expiry" is done by the test (Kill).
class MemoryLeaseStore final : public LeaseStore {
 public:
  Result<std::vector<std::string>> Heartbeat(const std::string& me, int64_t) override {
    std::lock_guard lock(mu);
    live.insert(me);
    return std::vector<std::string>(live.begin(), live.end());
  }
  Status Leave(const std::string& me) override {
    std::lock_guard lock(mu);
    live.erase(me);
    return Status::Ok();
  }
  Result<std::vector<std::string>> Owners(const std::vector<std::string>& keys) override {
    std::lock_guard lock(mu);
    std::vector<std::string> out;
    for (const auto& k : keys) out.push_back(leases.count(k) ? leases[k] : "");
    return out;
  }
  Result<bool> Apply(Op op, const std::string& key, const std::string& me, int64_t) override {
    std::lock_guard lock(mu);
    auto it = leases.find(key);
    if (op == Op::kTake && it == leases.end()) {
      leases[key] = me;
      return true;
    }
    if (it == leases.end() || it->second != me) return false;
    if (op == Op::kRelease) leases.erase(it);
    return true;
  }
  // `name` died: its heartbeat and leases expired.
  void Kill(const std::string& name) {
    std::lock_guard lock(mu);
    live.erase(name);
    std::erase_if(leases, [&](const auto& kv) { return kv.second == name; });
  }
  int Count(const std::string& name) {
    std::lock_guard lock(mu);
    return static_cast<int>(std::count_if(leases.begin(), leases.end(),
                                          [&](const auto& kv) { return kv.second == name; }));
  }

  std::mutex mu;
  std::set<std::string> live;
  std::map<std::string, std::string> leases;
};

class CountingWorker final : public ShardWorker {
 public:
  explicit CountingWorker(std::atomic<int>* running) : running_(running) { ++*running_; }
  ~CountingWorker() override { --*running_; }
  Result<int> RunOnce() override {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return 0;
  }

 private:
  std::atomic<int>* running_;
};

ShardQueue TestQueue(std::atomic<int>* running) {
  ShardQueue q;
  q.kind = "delivery";
  q.paused = "delivery";
  q.resumed = "delivering";
  q.shards = 4;
  q.lease_key = [](int shard) { return "lease:" + std::to_string(shard); };
  q.make_worker = [running](int, const ShardLease*) {
    return std::make_unique<CountingWorker>(running);
  };
  return q;
}

ShardCoordinatorOptions Named(const std::string& name) {
  ShardCoordinatorOptions o;
  o.name = name;
  o.lease_ms = 60000;  // the test expires leases itself
  return o;
}

// Rounds of both until neither changes anything (each round lets given-back shards finish).
void Settle(std::vector<ShardCoordinator*> cs) {
  for (int round = 0; round < 6; ++round) {
    for (auto* c : cs) REQUIRE(c->RunRound().ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
}

}  // namespace

TEST_CASE("coordinator: two downlinks split 4 shards 2/2; the survivor takes all 4") {
  MemoryLeaseStore store;
  MetricsRegistry ma, mb;
  std::atomic<int> running_a{0}, running_b{0};
  ShardCoordinator a(&store, &ma, Named("a"), {TestQueue(&running_a)});
  Settle({&a});
  CHECK(a.OwnedShards("delivery") == 4);
  CHECK(running_a == 4);

  auto b = std::make_unique<ShardCoordinator>(&store, &mb, Named("b"),
                                              std::vector<ShardQueue>{TestQueue(&running_b)});
  Settle({&a, b.get()});
  CHECK(a.OwnedShards("delivery") == 2);
  CHECK(b->OwnedShards("delivery") == 2);
  CHECK(store.Count("a") == 2);
  CHECK(store.Count("b") == 2);
  CHECK(running_a == 2);
  CHECK(running_b == 2);

  // b dies (its leases expire): a takes them in its next round.
  store.Kill("b");
  Settle({&a});
  CHECK(a.OwnedShards("delivery") == 4);
  CHECK(store.Count("a") == 4);
  CHECK(ma.GetCounter("courier_shard_takeovers_total", "", "kind=\"delivery\"").value() == 6);
  // The dead one learns it lost them when it comes back, and stops its workers.
  CHECK(b->RunRound().ok());
  for (int i = 0; i < 100 && running_b > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    b->RunRound();
  }
  CHECK(running_b == 0);
  CHECK(mb.GetCounter("courier_shard_leases_lost_total", "", "kind=\"delivery\"").value() == 2);
  b.reset();  // a clean stop of a downlink holding nothing
  CHECK(store.Count("a") == 4);
}

TEST_CASE("coordinator: a clean stop releases the leases at once") {
  MemoryLeaseStore store;
  MetricsRegistry m;
  std::atomic<int> running{0};
  {
    ShardCoordinator a(&store, &m, Named("a"), {TestQueue(&running)});
    Settle({&a});
    CHECK(store.Count("a") == 4);
    a.Stop();
    CHECK(store.Count("a") == 0);
    CHECK(running == 0);
  }
  CHECK(store.live.empty());
}

}  // namespace courier
