#include "downlink/redis_delivery_queue.h"

#include "common/keys.h"
#include "common/log.h"

namespace courier {

namespace {

std::vector<std::string> Streams(int shards) {
  std::vector<std::string> out;
  for (int i = 0; i < shards; ++i) out.push_back(keys::DeliveryStream(i));
  return out;
}

}  // namespace

RedisDeliveryQueue::RedisDeliveryQueue(RedisConfig redis, int shards, std::string consumer)
    : group_(std::move(redis), Streams(shards), kGroup, std::move(consumer)) {}

bool RedisDeliveryQueue::ToDelivery(const StreamEntry& e, Delivery* d) {
  d->stream = e.stream;
  d->entry_id = e.id;
  const std::string& kind = e.Field("k");
  d->user_id = e.Field("u");
  d->payload = e.Field("p");
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
  std::vector<std::pair<std::string, std::string>> junk;
  for (const auto& e : entries) {
    Delivery d;
    if (ToDelivery(e, &d)) {
      out.push_back(std::move(d));
    } else {
      spdlog::warn("dropping unreadable delivery {} {}", e.stream, e.id);
      junk.emplace_back(e.stream, e.id);
    }
  }
  if (!junk.empty()) group_.Ack(junk);
  return out;
}

Status RedisDeliveryQueue::EnsureGroups() { return group_.EnsureGroups(); }

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
  std::vector<std::pair<std::string, std::string>> ids;
  for (const Delivery* d : done) ids.emplace_back(d->stream, d->entry_id);
  return group_.Ack(ids);
}

}  // namespace courier
