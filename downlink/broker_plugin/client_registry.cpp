#include "downlink/broker_plugin/client_registry.h"

#include <algorithm>
#include <utility>

namespace courier::broker {

void ClientRegistry::Add(Handle handle, ClientIdentity identity) {
  Remove(handle);
  by_client_id_[identity.client_id].push_back(handle);
  by_handle_.emplace(handle, std::move(identity));
}

const ClientIdentity* ClientRegistry::Find(Handle handle) const {
  auto it = by_handle_.find(handle);
  return it == by_handle_.end() ? nullptr : &it->second;
}

const ClientIdentity* ClientRegistry::FindByClientId(const std::string& client_id) const {
  auto holders = by_client_id_.find(client_id);
  return holders == by_client_id_.end() ? nullptr : Find(holders->second.back());
}

std::optional<ClientIdentity> ClientRegistry::Remove(Handle handle) {
  auto it = by_handle_.find(handle);
  if (it == by_handle_.end()) return std::nullopt;
  ClientIdentity identity = std::move(it->second);
  by_handle_.erase(it);

  auto holders = by_client_id_.find(identity.client_id);
  if (holders != by_client_id_.end()) {
    std::erase(holders->second, handle);
    if (!holders->second.empty()) return std::nullopt;
    by_client_id_.erase(holders);
  }
  return identity;
}

std::vector<DeviceRef> ClientRegistry::OnlineDevices() const {
  std::vector<DeviceRef> devices;
  devices.reserve(by_client_id_.size());
  for (const auto& [client_id, holders] : by_client_id_) {
    const ClientIdentity& newest = by_handle_.at(holders.back());
    if (newest.is_service()) continue;
    devices.push_back({newest.user_id, newest.device_id});
  }
  return devices;
}

}  // namespace courier::broker
