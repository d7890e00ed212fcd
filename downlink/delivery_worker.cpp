#include "downlink/delivery_worker.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/log.h"

namespace courier {

namespace {

// A blocking read ends this long before the lease's local deadline at the latest.
constexpr std::chrono::milliseconds kLeaseMargin{100};

}  // namespace

DeliveryWorker::DeliveryWorker(DeliveryQueue* queue, Publisher* publisher, MetricsRegistry* metrics,
                               DeliveryWorkerOptions options, const ShardLease* lease)
    : queue_(queue),
      publisher_(publisher),
      options_(std::move(options)),
      lease_(lease),
      pushed_(metrics->GetCounter("courier_deliveries_pushed_total",
                                  "Deliveries the broker acknowledged")),
      failed_(metrics->GetCounter("courier_deliveries_retried_total",
                                  "Deliveries not acknowledged by the broker, to be retried")),
      kicks_(metrics->GetCounter("courier_kicks_total",
                                 "Devices disconnected after their "
                                 "session ended")),
      claimed_(metrics->GetCounter("courier_deliveries_claimed_total",
                                   "Deliveries taken over from a stalled consumer")) {}

std::vector<OutgoingMessage> DeliveryWorker::Render(const Delivery& d,
                                                    const std::string& topic_root) {
  using Route = OutgoingMessage::Route;
  switch (d.kind) {
    case Delivery::Kind::kInbox:
      return {{topic_root + "/u/" + d.user_id, d.payload, Route::kUser, d.user_id}};
    case Delivery::Kind::kRoom:
      return {{topic_root + "/r/" + d.room_id, d.payload, Route::kEveryBroker, d.user_id}};
    case Delivery::Kind::kRoomLeave: {
      nlohmann::json leave = {{"op", "room_leave"}, {"user_id", d.user_id}, {"room_id", d.room_id}};
      return {{"$CONTROL/courier/v1", leave.dump(), Route::kEveryBroker, d.user_id}};
    }
    case Delivery::Kind::kControl:
      break;
  }
  std::vector<OutgoingMessage> out;
  if (d.notify) {
    out.push_back(
        {topic_root + "/d/" + d.user_id + "/" + d.device_id, d.payload, Route::kUser, d.user_id});
  }
  // The broker plugin disconnects the client only if it still runs on that session, so a
  // device that already logged in again keeps its new connection. Every broker: the device may
  // still be on the broker its user was assigned before the broker list changed.
  nlohmann::json kick = {
      {"op", "kick"}, {"client_id", d.user_id + ":" + d.device_id}, {"session_id", d.session_id}};
  out.push_back({"$CONTROL/courier/v1", kick.dump(), Route::kEveryBroker, d.user_id});
  return out;
}

Result<std::vector<Delivery>> DeliveryWorker::NextBatch() {
  if (!pending_scan_ && retry_pending_at_ &&
      std::chrono::steady_clock::now() >= *retry_pending_at_) {
    retry_pending_at_.reset();
    RestartPendingScan();
  }
  if (pending_scan_) {
    auto batch = queue_->ReadPending(options_.batch);
    if (!batch.ok() || !batch->empty()) return batch;
    pending_scan_ = false;
  }
  auto now = std::chrono::steady_clock::now();
  if (now >= next_claim_) {
    next_claim_ = now + std::chrono::milliseconds(options_.claim_every_ms);
    auto stale = queue_->ClaimStale(options_.claim_idle_ms, options_.batch);
    if (!stale.ok()) return stale;
    if (!stale->empty()) {
      claimed_.Inc(stale->size());
      spdlog::warn("claimed {} deliveries left pending by another consumer", stale->size());
      return stale;
    }
  }
  // The read may not outlast the lease: a new owner must never meet it in Redis.
  int block_ms = options_.block_ms;
  if (lease_ != nullptr) {
    auto left = (lease_->Remaining() - kLeaseMargin).count();
    if (left <= 0) return Status::Conflict("the shard's lease is not held");
    block_ms = static_cast<int>(std::min<int64_t>(block_ms, left));
  }
  return queue_->ReadNew(options_.batch, block_ms);
}

void DeliveryWorker::RestartPendingScan() {
  pending_scan_ = true;
  queue_->RewindPending();
}

void DeliveryWorker::LogOutcomes(const std::vector<Delivery>& batch,
                                 const std::vector<size_t>& first_message,
                                 const std::vector<bool>& acked) {
  static constexpr const char* kKinds[] = {"inbox", "control", "room", "room_leave"};
  for (size_t i = 0; i < batch.size(); ++i) {
    const Delivery& d = batch[i];
    bool all = true;
    for (size_t m = first_message[i]; m < first_message[i + 1]; ++m) all = all && acked[m];
    LogRequestScope scope(d.request_id);
    spdlog::debug("{} {} delivery {} for {}{}{}", all ? "pushed" : "not acknowledged, will retry:",
                  kKinds[static_cast<int>(d.kind)], d.entry_id, d.user_id,
                  d.room_id.empty() ? "" : " in room ", d.room_id);
  }
}

Result<int> DeliveryWorker::RunOnce() {
  if (lease_ != nullptr && !lease_->HeldFor(kLeaseMargin)) {
    return Status::Conflict("the shard's lease is not held");
  }
  if (!groups_ready_) {
    if (Status s = queue_->EnsureGroups(); !s.ok()) return s;
    auto taken = queue_->TakeOver();
    if (!taken.ok()) return taken.status();
    if (*taken > 0) {
      claimed_.Inc(static_cast<uint64_t>(*taken));
      spdlog::warn("took over {} deliveries a previous owner of the shard left pending", *taken);
    }
    RestartPendingScan();
    groups_ready_ = true;
  }
  if (Status s = publisher_->EnsureConnected(); !s.ok()) return s;
  if (publisher_->TakeReconnected()) {
    // What the broker missed while unreachable goes out before anything new, in order.
    retry_pending_ms_ = kFirstPendingRetryMs;
    RestartPendingScan();
  }
  auto batch = NextBatch();
  if (!batch.ok()) {
    // The group may have vanished with a Redis that lost its data: recreate it next time.
    groups_ready_ = false;
    return batch.status();
  }
  if (batch->empty()) return 0;
  if (lease_ != nullptr && !lease_->HeldFor(std::chrono::milliseconds(0))) {
    // Paused past the lease: another downlink may own the shard now and deliver these.
    RestartPendingScan();
    return Status::Conflict("the shard's lease ran out before publishing");
  }

  std::vector<OutgoingMessage> messages;
  std::vector<size_t> first_message;  // index into messages, per delivery
  for (const Delivery& d : *batch) {
    first_message.push_back(messages.size());
    for (auto& m : Render(d, options_.topic_root)) messages.push_back(std::move(m));
  }
  first_message.push_back(messages.size());
  std::vector<bool> acked = publisher_->PublishAll(messages, options_.publish_timeout_ms);

  std::vector<const Delivery*> done;
  for (size_t i = 0; i < batch->size(); ++i) {
    bool all = true;
    for (size_t m = first_message[i]; m < first_message[i + 1]; ++m) all = all && acked[m];
    if (all) {
      done.push_back(&(*batch)[i]);
      if ((*batch)[i].kind == Delivery::Kind::kControl) kicks_.Inc();
    }
  }
  if (spdlog::should_log(spdlog::level::debug)) LogOutcomes(*batch, first_message, acked);
  size_t not_done = batch->size() - done.size();
  // They stay pending in the stream; go through our pending list again, from its start, once
  // reconnected. Except when one broker of several is down and the others took their share:
  // rescanning at once would publish the same failing entries over and over and stall the
  // brokers that work, so carry on; they are tried again when their broker reconnects
  // (TakeReconnected) or after a delay that grows to 30 s.
  const bool partial = not_done > 0 && !done.empty() && publisher_->PartlyUnavailable();
  if (not_done > 0) {
    failed_.Inc(not_done);
    if (!partial) {
      RestartPendingScan();
    } else if (!retry_pending_at_) {
      retry_pending_at_ =
          std::chrono::steady_clock::now() + std::chrono::milliseconds(retry_pending_ms_);
      retry_pending_ms_ = std::min(retry_pending_ms_ * 2, kMaxPendingRetryMs);
    }
  }
  if (!done.empty()) {
    if (Status s = queue_->Ack(done); !s.ok()) {
      RestartPendingScan();  // published but not acknowledged: published again later
      return s;
    }
    pushed_.Inc(done.size());
  }
  if (not_done > 0 && !partial) {
    return Status::Unavailable(std::to_string(not_done) +
                               " deliveries not acknowledged by the broker");
  }
  return static_cast<int>(done.size());
}

}  // namespace courier
