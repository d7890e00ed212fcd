#include "downlink/queue_backlog.h"

#include <algorithm>

#include "common/clock.h"

namespace courier {

QueueBacklog::QueueBacklog(MetricsRegistry* metrics, const std::string& queue)
    : pending_(metrics->GetGauge("courier_queue_pending_entries",
                                 "Entries of this downlink's queue shards read but not "
                                 "acknowledged (deliveries: not yet acknowledged by the broker)",
                                 "queue=\"" + queue + "\"")),
      unread_(metrics->GetGauge("courier_queue_unread_entries",
                                "Entries of this downlink's queue shards not read yet",
                                "queue=\"" + queue + "\"")),
      lag_seconds_(metrics->GetGauge("courier_queue_lag_seconds",
                                     "Age of the oldest pending or unread entry of this "
                                     "downlink's queue shards, whole seconds (0: none waits)",
                                     "queue=\"" + queue + "\"")) {}

void QueueBacklog::Report(int shard, const StreamBacklog& backlog, int64_t now_ms) {
  std::lock_guard lock(mu_);
  shards_[shard] = Sample{backlog, now_ms};
  PublishLocked();
}

void QueueBacklog::Forget(int shard) {
  std::lock_guard lock(mu_);
  shards_.erase(shard);
  PublishLocked();
}

void QueueBacklog::PublishLocked() {
  int64_t pending = 0;
  int64_t unread = 0;
  int64_t lag_ms = 0;
  for (const auto& [shard, s] : shards_) {
    pending += s.backlog.pending;
    unread += s.backlog.unread;
    if (s.backlog.oldest_ms > 0) lag_ms = std::max(lag_ms, s.at_ms - s.backlog.oldest_ms);
  }
  pending_.Set(pending);
  unread_.Set(unread);
  lag_seconds_.Set(lag_ms / 1000);
}

BacklogSampler::BacklogSampler(RedisStreamGroup* group, QueueBacklog* backlog, int shard,
                               int64_t every_ms)
    : group_(group), backlog_(backlog), shard_(shard), every_(every_ms) {}

BacklogSampler::~BacklogSampler() {
  if (backlog_ != nullptr) backlog_->Forget(shard_);
}

void BacklogSampler::MaybeSample() {
  if (backlog_ == nullptr) return;
  auto now = std::chrono::steady_clock::now();
  if (now < next_) return;
  next_ = now + every_;
  auto sample = group_->Backlog();
  if (sample.ok()) backlog_->Report(shard_, *sample, SystemClock().NowMs());
}

}  // namespace courier
