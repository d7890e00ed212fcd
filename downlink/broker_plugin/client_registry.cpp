#include "downlink/broker_plugin/client_registry.h"

#include <algorithm>
#include <utility>

namespace courier::broker {

namespace {

using HandleIndex = std::unordered_map<std::string, std::vector<ClientRegistry::Handle>>;

// Takes `handle` out of index[key], dropping the entry when it empties. True if the entry is
// left with other handles.
bool Unindex(HandleIndex& index, const std::string& key, ClientRegistry::Handle handle) {
  auto holders = index.find(key);
  if (holders == index.end()) return false;
  std::erase(holders->second, handle);
  if (!holders->second.empty()) return true;
  index.erase(holders);
  return false;
}

}  // namespace

void ClientRegistry::Add(Handle handle, ClientIdentity identity) {
  Remove(handle);
  by_client_id_[identity.client_id].push_back(handle);
  if (!identity.is_service()) by_user_[identity.user_id].push_back(handle);
  by_handle_.emplace(handle, Connection{std::move(identity), {}});
}

const ClientRegistry::Connection* ClientRegistry::FindConnection(Handle handle) const {
  auto it = by_handle_.find(handle);
  return it == by_handle_.end() ? nullptr : &it->second;
}

const ClientIdentity* ClientRegistry::Find(Handle handle) const {
  const Connection* connection = FindConnection(handle);
  return connection == nullptr ? nullptr : &connection->identity;
}

const ClientIdentity* ClientRegistry::FindByClientId(const std::string& client_id) const {
  auto holders = by_client_id_.find(client_id);
  return holders == by_client_id_.end() ? nullptr : Find(holders->second.back());
}

std::optional<ClientIdentity> ClientRegistry::Remove(Handle handle) {
  auto it = by_handle_.find(handle);
  if (it == by_handle_.end()) return std::nullopt;
  ClientIdentity identity = std::move(it->second.identity);
  by_handle_.erase(it);

  if (!identity.is_service()) Unindex(by_user_, identity.user_id, handle);
  if (Unindex(by_client_id_, identity.client_id, handle)) return std::nullopt;
  return identity;
}

bool ClientRegistry::AllowRoom(Handle handle, std::string_view room_id) {
  auto it = by_handle_.find(handle);
  if (it == by_handle_.end() || it->second.identity.is_service()) return false;
  it->second.readable_rooms.emplace(room_id);
  return true;
}

size_t ClientRegistry::RevokeRoom(std::string_view user_id, std::string_view room_id) {
  auto holders = by_user_.find(std::string(user_id));
  if (holders == by_user_.end()) return 0;
  size_t revoked = 0;
  for (Handle handle : holders->second) {
    RoomSet& rooms = by_handle_.at(handle).readable_rooms;
    if (auto room = rooms.find(room_id); room != rooms.end()) {
      rooms.erase(room);
      ++revoked;
    }
  }
  return revoked;
}

std::vector<DeviceRef> ClientRegistry::OnlineDevices() const {
  std::vector<DeviceRef> devices;
  devices.reserve(by_client_id_.size());
  for (const auto& [client_id, holders] : by_client_id_) {
    const ClientIdentity& newest = by_handle_.at(holders.back()).identity;
    if (newest.is_service()) continue;
    devices.push_back({newest.user_id, newest.device_id});
  }
  return devices;
}

size_t ClientRegistry::OnlineDeviceCount() const {
  size_t count = 0;
  for (const auto& [client_id, holders] : by_client_id_) {
    if (!by_handle_.at(holders.back()).identity.is_service()) ++count;
  }
  return count;
}

std::vector<std::string> ClientRegistry::ExpiredDevices(int64_t now_s) const {
  std::vector<std::string> expired;
  for (const auto& [client_id, holders] : by_client_id_) {
    const ClientIdentity& newest = by_handle_.at(holders.back()).identity;
    if (!newest.is_service() && newest.expires_at_s <= now_s) expired.push_back(client_id);
  }
  return expired;
}

}  // namespace courier::broker
