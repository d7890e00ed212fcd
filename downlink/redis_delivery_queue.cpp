#include "downlink/redis_delivery_queue.h"

#include "common/keys.h"
#include "common/log.h"

namespace courier {

RedisDeliveryQueue::RedisDeliveryQueue(RedisConfig redis, int shard, std::string consumer)
    : group_(std::move(redis), keys::DeliveryStream(shard), keys::DeliveryShardOwner(shard), kGroup,
             std::move(consumer)) {}

bool RedisDeliveryQueue::ToDelivery(const StreamEntry& e, Delivery* d) {
  d->stream = e.stream;
  d->entry_id = e.id;
  const std::string& kind = e.Field("k");
  d->user_id = e.Field("u");
  d->payload = e.Field("p");
  d->request_id = e.Field("req");
  if (kind == "inbox") {
    d->kind = Delivery::Kind::kInbox;
  } else if (kind == "control") {
    d->kind = Delivery::Kind::kControl;
    d->device_id = e.Field("d");
    d->session_id = e.Field("s");
    d->notify = e.Field("n") == "1";
  } else if (kind == "room" || kind == "roomctl") {
    d->kind = kind == "room" ? Delivery::Kind::kRoom : Delivery::Kind::kRoomLeave;
    d->room_id = e.Field("r");
    return !d->room_id.empty();
  } else {
    return false;
  }
  return !d->user_id.empty();
}

std::vector<Delivery> RedisDeliveryQueue::Convert(std::vector<StreamEntry> entries) {
  std::vector<Delivery> out;
  std::vector<std::string> junk;
  for (const auto& e : entries) {
    Delivery d;
    if (ToDelivery(e, &d)) {
      out.push_back(std::move(d));
    } else {
      spdlog::warn("dropping unreadable delivery {} {}", e.stream, e.id);
      junk.push_back(e.id);
    }
  }
  if (!junk.empty()) group_.Ack(junk);
  return out;
}

Status RedisDeliveryQueue::EnsureGroups() { return group_.EnsureGroup(); }

Result<int64_t> RedisDeliveryQueue::TakeOver() { return group_.ClaimAll(); }

Result<std::vector<Delivery>> RedisDeliveryQueue::ReadPending(int count) {
  auto r = group_.ReadPending(count);
  if (!r.ok()) return r.status();
  return Convert(std::move(*r));
}

void RedisDeliveryQueue::RewindPending() { group_.RewindPending(); }

Result<std::vector<Delivery>> RedisDeliveryQueue::ReadNew(int count, int block_ms) {
  auto r = group_.ReadNew(count, block_ms);
  if (!r.ok()) return r.status();
  return Convert(std::move(*r));
}

Result<std::vector<Delivery>> RedisDeliveryQueue::ClaimStale(int64_t min_idle_ms, int count) {
  auto r = group_.ClaimStale(min_idle_ms, count);
  if (!r.ok()) return r.status();
  return Convert(std::move(*r));
}

Status RedisDeliveryQueue::Ack(const std::vector<const Delivery*>& done) {
  std::vector<std::string> ids;
  for (const Delivery* d : done) ids.push_back(d->entry_id);
  return group_.Ack(ids);
}

}  // namespace courier
