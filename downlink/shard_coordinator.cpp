#include "downlink/shard_coordinator.h"

#include <algorithm>

#include "common/log.h"
#include "downlink/shard_balance.h"

namespace courier {

namespace {

using Steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Sleeps up to `ms` in 50 ms steps, returning early once `stop` is set.
void SleepUnless(const std::atomic<bool>& stop, int64_t ms) {
  for (int64_t waited = 0; waited < ms && !stop; waited += 50) {
    std::this_thread::sleep_for(milliseconds(std::min<int64_t>(50, ms - waited)));
  }
}

}  // namespace

ShardCoordinator::ShardCoordinator(LeaseStore* store, MetricsRegistry* metrics,
                                   ShardCoordinatorOptions options, std::vector<ShardQueue> queues)
    : store_(store),
      options_(std::move(options)),
      live_(metrics->GetGauge("courier_downlinks_live",
                              "Live downlinks this downlink saw in its last heartbeat")) {
  for (auto& spec : queues) {
    Queue q;
    const std::string label = "kind=\"" + spec.kind + "\"";
    q.owned = &metrics->GetGauge("courier_downlink_owned_shards",
                                 "Queue shards this downlink owns (holds the lease of)", label);
    q.taken = &metrics->GetCounter(
        "courier_shard_takeovers_total",
        "Shard leases this downlink took (free, expired after a downlink died, or given back)",
        label);
    q.lost = &metrics->GetCounter(
        "courier_shard_leases_lost_total",
        "Shard leases this downlink lost without giving them back (paused or cut off too long)",
        label);
    for (int i = 0; i < spec.shards; ++i) q.slots.push_back(std::make_unique<Slot>());
    q.spec = std::move(spec);
    queues_.push_back(std::move(q));
  }
}

ShardCoordinator::~ShardCoordinator() { Stop(); }

Steady::time_point ShardCoordinator::LocalDeadline(Steady::time_point sent) const {
  // The lease expires in Redis lease_ms after Redis ran the command, which is after `sent`;
  // ending locally a margin earlier leaves room for clock-rate differences.
  const int64_t margin = std::max<int64_t>(100, options_.lease_ms / 10);
  return sent + milliseconds(options_.lease_ms - margin);
}

int ShardCoordinator::OwnedShards(const std::string& kind) const {
  for (const Queue& q : queues_) {
    if (q.spec.kind == kind) return static_cast<int>(q.owned->value());
  }
  return 0;
}

void ShardCoordinator::RunWorker(Slot* slot, const ShardQueue& spec, int shard) {
  int backoff_ms = 100;
  std::string last_error;
  while (!slot->stop) {
    auto r = slot->worker->RunOnce();
    if (r.ok()) {
      if (!last_error.empty()) {
        spdlog::info("{} again after: {} (shard {})", spec.resumed, last_error, shard);
      }
      last_error.clear();
      backoff_ms = 100;
      continue;
    }
    if (r.status().code() == Status::Code::kConflict) {
      // The lease is not (or no longer) held: wait for its renewal, or to be stopped.
      SleepUnless(slot->stop, 50);
      continue;
    }
    if (r.status().ToString() != last_error) {
      last_error = r.status().ToString();
      spdlog::warn("{} paused: {} (shard {})", spec.paused, last_error, shard);
    }
    SleepUnless(slot->stop, backoff_ms);
    backoff_ms = std::min(backoff_ms * 2, 5000);
  }
  slot->done = true;
}

void ShardCoordinator::Start(Queue& q, int shard) {
  Slot* slot = q.slots[shard].get();
  slot->stop = false;
  slot->done = false;
  slot->release_when_done = false;
  slot->worker = q.spec.make_worker(shard, &slot->lease);
  slot->state = State::kRunning;
  slot->thread = std::thread([this, slot, &q, shard] { RunWorker(slot, q.spec, shard); });
}

void ShardCoordinator::BeginStop(Queue& q, int shard, bool release) {
  Slot* slot = q.slots[shard].get();
  if (slot->state != State::kRunning) return;
  slot->stop = true;
  slot->release_when_done = release;
  slot->state = State::kStopping;
  if (!release) slot->lease.Revoke();
}

Status ShardCoordinator::RenewHeld() {
  for (Queue& q : queues_) {
    for (int i = 0; i < q.spec.shards; ++i) {
      Slot* slot = q.slots[i].get();
      bool ours = slot->state == State::kRunning ||
                  (slot->state == State::kStopping && slot->release_when_done);
      if (!ours) continue;
      const auto sent = Steady::now();
      auto r = store_->Apply(LeaseStore::Op::kRenew, q.spec.lease_key(i), options_.name,
                             options_.lease_ms);
      if (!r.ok()) return r.status();  // Redis unreachable: ExpireLapsed() decides
      if (*r) {
        slot->lease.ExtendUntil(LocalDeadline(sent));
        continue;
      }
      spdlog::warn("{} shard {}: lost the lease (another downlink holds it, or it expired)",
                   q.spec.kind, i);
      q.lost->Inc();
      slot->lease.Revoke();
      slot->release_when_done = false;
      BeginStop(q, i, false);
    }
  }
  return Status::Ok();
}

void ShardCoordinator::ExpireLapsed() {
  const auto margin = milliseconds(std::max<int64_t>(100, options_.lease_ms / 10));
  for (Queue& q : queues_) {
    for (int i = 0; i < q.spec.shards; ++i) {
      Slot* slot = q.slots[i].get();
      bool ours = slot->state == State::kRunning ||
                  (slot->state == State::kStopping && slot->release_when_done);
      // The local deadline is a margin before the expiry in Redis; a margin after it, the
      // lease has expired there too and may be someone else's.
      if (!ours || slot->lease.revoked() || slot->lease.Remaining() > -margin) continue;
      spdlog::warn("{} shard {}: lease expired without renewal (Redis unreachable?)", q.spec.kind,
                   i);
      q.lost->Inc();
      slot->release_when_done = false;
      slot->lease.Revoke();
      BeginStop(q, i, false);
    }
  }
}

void ShardCoordinator::ReapFinished() {
  for (Queue& q : queues_) {
    for (int i = 0; i < q.spec.shards; ++i) {
      Slot* slot = q.slots[i].get();
      if (slot->state != State::kStopping || !slot->done) continue;
      if (slot->thread.joinable()) slot->thread.join();
      slot->worker.reset();
      if (slot->release_when_done) {
        auto r = store_->Apply(LeaseStore::Op::kRelease, q.spec.lease_key(i), options_.name,
                               options_.lease_ms);
        if (r.ok()) {
          spdlog::info("{} shard {}: released", q.spec.kind, i);
        } else {
          spdlog::warn("{} shard {}: release failed ({}); it expires by itself", q.spec.kind, i,
                       r.status().ToString());
        }
      }
      slot->lease.Revoke();
      slot->state = State::kIdle;
    }
  }
  UpdateGauges();
}

void ShardCoordinator::UpdateGauges() {
  for (Queue& q : queues_) {
    int running = 0;
    for (const auto& slot : q.slots) running += slot->state == State::kRunning ? 1 : 0;
    q.owned->Set(running);
  }
}

void ShardCoordinator::Balance(Queue& q, int live) {
  std::vector<std::string> keys;
  for (int i = 0; i < q.spec.shards; ++i) keys.push_back(q.spec.lease_key(i));
  auto owners = store_->Owners(keys);
  if (!owners.ok()) return;
  std::vector<bool> held;
  for (const auto& slot : q.slots) held.push_back(slot->state == State::kRunning);
  BalancePlan plan = PlanBalance(options_.name, live, *owners, held);
  for (int i : plan.release) {
    spdlog::info("{} shard {}: giving it back ({} live downlinks share {} shards)", q.spec.kind, i,
                 live, q.spec.shards);
    BeginStop(q, i, true);
  }
  for (int i : plan.take) {
    if (q.slots[i]->state != State::kIdle) continue;  // still finishing; next round
    const auto sent = Steady::now();
    auto r = store_->Apply(LeaseStore::Op::kTake, keys[i], options_.name, options_.lease_ms);
    if (!r.ok()) return;
    if (!*r) continue;  // another downlink was faster
    q.slots[i]->lease.ExtendUntil(LocalDeadline(sent));
    q.taken->Inc();
    spdlog::info("{} shard {}: taken ({} live downlinks)", q.spec.kind, i, live);
    Start(q, i);
  }
}

Status ShardCoordinator::RunRound() {
  if (stopped_) return Status::Unavailable("stopped");
  auto live = store_->Heartbeat(options_.name, options_.lease_ms);
  Status renewed = RenewHeld();
  ExpireLapsed();
  ReapFinished();
  if (!live.ok()) return live.status();
  if (!renewed.ok()) return renewed;
  const int count = std::max<int>(1, static_cast<int>(live->size()));
  live_.Set(count);
  for (Queue& q : queues_) Balance(q, count);
  UpdateGauges();
  return Status::Ok();
}

void ShardCoordinator::Run(const std::atomic<bool>& stopping) {
  std::string last_error;
  while (!stopping) {
    Status s = RunRound();
    if (!s.ok() && s.ToString() != last_error) {
      spdlog::warn("shard leases: {}", s.ToString());
    } else if (s.ok() && !last_error.empty()) {
      spdlog::info("shard leases renewed again after: {}", last_error);
    }
    last_error = s.ok() ? "" : s.ToString();
    // Between rounds, release given-back shards as soon as their workers finish.
    const auto next = Steady::now() + milliseconds(options_.renew_every_ms);
    while (!stopping && Steady::now() < next) {
      std::this_thread::sleep_for(milliseconds(50));
      ReapFinished();
    }
  }
  Stop();
}

void ShardCoordinator::Stop() {
  if (stopped_) return;
  stopped_ = true;
  for (Queue& q : queues_) {
    for (int i = 0; i < q.spec.shards; ++i) BeginStop(q, i, true);
  }
  const auto deadline = Steady::now() + milliseconds(options_.stop_timeout_ms);
  auto next_renewal = Steady::now() + milliseconds(options_.renew_every_ms);
  auto busy = [this] {
    for (const Queue& q : queues_) {
      for (const auto& slot : q.slots) {
        if (slot->state != State::kIdle) return true;
      }
    }
    return false;
  };
  while (busy() && Steady::now() < deadline) {
    ReapFinished();
    if (Steady::now() >= next_renewal) {
      RenewHeld();  // keep the leases of workers still finishing a step
      next_renewal = Steady::now() + milliseconds(options_.renew_every_ms);
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  for (Queue& q : queues_) {
    for (auto& slot : q.slots) {
      if (slot->thread.joinable()) slot->thread.join();  // past the deadline: wait anyway
    }
  }
  ReapFinished();
  if (Status s = store_->Leave(options_.name); !s.ok()) {
    spdlog::warn("leaving the live downlinks: {}", s.ToString());
  }
}

}  // namespace courier
