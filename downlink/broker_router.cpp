#include "downlink/broker_router.h"

#include <algorithm>
#include <thread>
#include <utility>

#include "common/log.h"

namespace courier {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kFirstRetry{100};
constexpr milliseconds kMaxRetry{5000};
constexpr milliseconds kConnectWait{3000};  // the longest EnsureConnected() waits, with none up
constexpr const char* kNotYet = "not connected yet";

}  // namespace

BrokerRouter::BrokerRouter(const ReloadableBrokerList* brokers, LinkFactory make_link,
                           MetricsRegistry* metrics, const std::string& publisher)
    : brokers_(brokers),
      make_link_(std::move(make_link)),
      broker_count_(metrics->GetGauge("courier_mqtt_brokers", "Brokers in the current list")),
      connected_count_(metrics->GetGauge(
          "courier_mqtt_brokers_connected",
          "Brokers a delivery shard's publisher is connected to (one series per owned shard)",
          "publisher=\"" + publisher + "\"")),
      errors_(metrics, "courier_broker_errors_total",
              "MQTT broker failures seen by the downlink, by operation and status code",
              {"connect", "connection_lost", "publish"}, {Status::Code::kUnavailable}) {
  ApplyListIfChanged();
}

// A released shard's series reads 0 rather than its last count.
BrokerRouter::~BrokerRouter() { connected_count_.Set(0); }

void BrokerRouter::ApplyListIfChanged() {
  if (list_ != nullptr && brokers_->version() == list_version_) return;
  list_version_ = brokers_->version();
  std::shared_ptr<const BrokerList> list = brokers_->Current();
  std::map<std::string, Slot> slots;
  for (const BrokerEntry& entry : list->entries()) {
    const std::string id = entry.internal.ToString();
    auto kept = slots_.find(id);
    if (kept != slots_.end()) {
      slots.emplace(id, std::move(kept->second));
      slots_.erase(kept);
      continue;
    }
    Slot slot;
    slot.address = entry.internal;
    slot.link = make_link_(entry.internal);
    slot.last_error = kNotYet;
    slots.emplace(id, std::move(slot));
  }
  for (const auto& [id, slot] : slots_)
    spdlog::info("brokers: {} left the list; disconnecting", id);
  slots_ = std::move(slots);  // the removed brokers' links disconnect as they are destroyed
  list_ = std::move(list);
  broker_count_.Set(static_cast<int64_t>(slots_.size()));
  spdlog::info("brokers: publishing to {}", list_->ToString());
}

Status BrokerRouter::EnsureConnected() {
  ApplyListIfChanged();
  // Connects never wait here, so a broker that is slow to answer holds up nobody; only when no
  // broker is connected at all (there is nothing else to do) does this wait for a connect.
  const Clock::time_point give_up = Clock::now() + kConnectWait;
  while (true) {
    const Clock::time_point now = Clock::now();
    int64_t connected = 0;
    bool connecting = false;
    std::string down;
    for (auto& [id, slot] : slots_) {
      if (slot.last_error.empty() && !slot.connecting && !slot.link->connected()) {
        slot.last_error = "connection lost";
        spdlog::warn("brokers: lost the connection to {}; reconnecting", id);
        errors_.Count("connection_lost", Status::Unavailable(slot.last_error));
      }
      if ((slot.connecting || !slot.link->connected()) && now >= slot.retry_at) {
        Result<bool> s = slot.link->ConnectWithoutWaiting();
        slot.connecting = s.ok() && !*s;
        if (s.ok() && *s) {
          if (!slot.last_error.empty() && slot.last_error != kNotYet) {
            spdlog::info("brokers: {} reachable again", id);
          }
          slot.last_error.clear();
          slot.backoff = milliseconds(0);
          reconnected_ = true;
        } else if (s.ok()) {
          connecting = true;
        } else {
          errors_.Count("connect", s.status());
          slot.backoff = std::clamp(slot.backoff * 2, kFirstRetry, kMaxRetry);
          slot.retry_at = now + slot.backoff;
          if (s.status().message() != slot.last_error) {
            spdlog::warn("brokers: {} unreachable ({}); its deliveries wait, the others go on", id,
                         s.status().message());
          }
          slot.last_error = s.status().message();
        }
      }
      if (slot.link->connected()) {
        ++connected;
      } else {
        down += (down.empty() ? "" : ", ") + id;
      }
    }
    connected_count_.Set(connected);
    if (connected > 0) return Status::Ok();
    if (!connecting || Clock::now() >= give_up) {
      return Status::Unavailable("no broker reachable: " + down);
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
}

std::vector<std::string> BrokerRouter::BrokersOf(const OutgoingMessage& message) const {
  if (message.route == OutgoingMessage::Route::kUser) {
    return {list_->For(message.user_id).internal.ToString()};
  }
  std::vector<std::string> all;
  for (const auto& [id, slot] : slots_) all.push_back(id);
  return all;
}

std::vector<bool> BrokerRouter::PublishAll(const std::vector<OutgoingMessage>& messages,
                                           int timeout_ms) {
  // Per broker, its messages in the order given (so per user, since a user has one broker).
  struct Share {
    std::vector<size_t> index;
    std::vector<const OutgoingMessage*> messages;
  };
  std::map<std::string, Share> shares;
  for (size_t i = 0; i < messages.size(); ++i) {
    for (const std::string& id : BrokersOf(messages[i])) {
      Share& share = shares[id];
      share.index.push_back(i);
      share.messages.push_back(&messages[i]);
    }
  }
  std::vector<bool> acked(messages.size(), true);
  uint64_t failed = 0;  // (broker, message) pairs without a PUBACK
  std::vector<BrokerLink*> begun;
  std::vector<const Share*> begun_shares;
  for (const auto& [id, share] : shares) {
    BrokerLink* link = slots_.at(id).link.get();
    if (!link->connected()) {
      for (size_t i : share.index) acked[i] = false;  // at once: no waiting for a dead broker
      failed += share.index.size();
      continue;
    }
    link->Begin(share.messages);
    begun.push_back(link);
    begun_shares.push_back(&share);
  }
  const Clock::time_point deadline = Clock::now() + milliseconds(timeout_ms);
  for (size_t b = 0; b < begun.size(); ++b) {
    std::vector<bool> ok = begun[b]->Await(deadline);
    const Share& share = *begun_shares[b];
    for (size_t k = 0; k < share.index.size(); ++k) {
      if (k < ok.size() && ok[k]) continue;
      acked[share.index[k]] = false;
      ++failed;
    }
  }
  if (failed > 0) errors_.Count("publish", Status::Unavailable("not acknowledged"), failed);
  return acked;
}

bool BrokerRouter::TakeReconnected() { return std::exchange(reconnected_, false); }

bool BrokerRouter::PartlyUnavailable() const {
  bool up = false;
  bool down = false;
  for (const auto& [id, slot] : slots_) (slot.link->connected() ? up : down) = true;
  return up && down;
}

}  // namespace courier
