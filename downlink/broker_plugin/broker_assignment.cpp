#include "downlink/broker_plugin/broker_assignment.h"

#include <nlohmann/json.hpp>
#include <utility>

namespace courier::broker {

BrokerAssignment::BrokerAssignment(BrokerList list, BrokerAddress self)
    : list_(std::move(list)), self_(std::move(self)) {}

bool BrokerAssignment::lists_self() const { return !list_ || list_->Find(self_) != nullptr; }

const BrokerEntry* BrokerAssignment::ElsewhereFor(std::string_view user_id) const {
  if (!list_) return nullptr;
  const BrokerEntry& home = list_->For(user_id);
  return home.internal == self_ ? nullptr : &home;
}

bool BrokerAssignment::operator==(const BrokerAssignment& other) const {
  if (sharded() != other.sharded()) return false;
  return !sharded() || (*list_ == *other.list_ && self_ == other.self_);
}

std::string BrokerAssignment::ToString() const {
  if (!list_) return "not sharded";
  return "broker " + self_.ToString() + " of " + list_->ToString();
}

std::vector<MovedDevice> MovedDevices(const BrokerAssignment& assignment,
                                      const std::vector<DeviceRef>& devices) {
  std::vector<MovedDevice> out;
  for (const DeviceRef& d : devices) {
    if (const BrokerEntry* to = assignment.ElsewhereFor(d.user_id); to != nullptr) {
      out.push_back({d, *to});
    }
  }
  return out;
}

std::string BrokerMovedEvent(const BrokerEntry& to, int64_t now_ms) {
  nlohmann::json event = {{"type", "control"},
                          {"event", "broker.moved"},
                          {"host", to.advertised.host},
                          {"port", to.advertised.port},
                          {"ts", now_ms}};
  return event.dump();
}

}  // namespace courier::broker
