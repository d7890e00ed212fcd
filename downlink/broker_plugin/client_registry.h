// The clients this broker let in, so that ACL checks, disconnects and the presence refresh know
// who a connection is without verifying its token again, and the chat rooms each connection may
// receive.
//
// Keyed by the broker's per-connection handle (Mosquitto's `struct mosquitto*`), not by client
// id: when a second connection with the same client id takes over, Mosquitto authenticates the
// new one before it disconnects the old one. The registry therefore keeps, per client id, every
// connection that holds it, and reports a device as gone only when the last of them leaves, so
// the old connection's disconnect never wipes the new one's online mark.
//
// Readable rooms belong to a connection, not to a device or user: a new connection starts with
// none (its subscriptions are new too, with a clean session), gains a room when it subscribes to
// the room's topic as a member, and loses it when its user leaves the room (RevokeRoom).
//
// Thread-safety: not thread-safe; the plugin uses it on Mosquitto's single main thread.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "downlink/broker_plugin/access_policy.h"

namespace courier::broker {

// A device that is online on this broker.
struct DeviceRef {
  std::string user_id;
  std::string device_id;

  bool operator==(const DeviceRef&) const = default;
};

class ClientRegistry {
 public:
  using Handle = const void*;

  // One authenticated connection.
  struct Connection {
    ClientIdentity identity;
    RoomSet readable_rooms;  // devices only; see AccessPolicy::CheckRead
  };

  // Records an authenticated connection, with no readable rooms. A handle that is already known
  // (the broker reused the memory of a connection whose disconnect it never reported) is
  // replaced.
  void Add(Handle handle, ClientIdentity identity);

  // The connection, or nullptr if it never authenticated here. The pointer stays valid until the
  // next Add or Remove.
  const Connection* FindConnection(Handle handle) const;
  // Its identity, or nullptr; valid as long.
  const ClientIdentity* Find(Handle handle) const;

  // The newest connection holding `client_id` — the one Mosquitto keeps after a takeover — or
  // nullptr. Valid until the next Add or Remove.
  const ClientIdentity* FindByClientId(const std::string& client_id) const;

  // Forgets a connection. Returns its identity when it was the last connection holding its
  // client id — the caller then marks the device offline — and nullopt when the handle is
  // unknown or a newer connection with the same client id is still here.
  std::optional<ClientIdentity> Remove(Handle handle);

  // Lets the connection receive the room's messages (its user was a member when it subscribed).
  // False if the handle is unknown or the service account's (which reads everything anyway).
  bool AllowRoom(Handle handle, std::string_view room_id);

  // The user left the room: none of the user's connections may receive its messages any more.
  // Returns how many connections could until now.
  size_t RevokeRoom(std::string_view user_id, std::string_view room_id);

  // Every device with at least one connection, once per client id.
  std::vector<DeviceRef> OnlineDevices() const;
  // How many OnlineDevices() would return, without building the list.
  size_t OnlineDeviceCount() const;

  // The client ids whose current (newest) connection is a device whose token expired at or
  // before `now_s`. One pass over the devices: the plugin asks once a second.
  std::vector<std::string> ExpiredDevices(int64_t now_s) const;

  // Connections, devices and service together.
  size_t size() const { return by_handle_.size(); }

 private:
  std::unordered_map<Handle, Connection> by_handle_;
  // Client id -> the connections holding it, oldest first. Never holds an empty vector.
  std::unordered_map<std::string, std::vector<Handle>> by_client_id_;
  // Device user id -> the user's connections (for RevokeRoom). Never holds an empty vector.
  std::unordered_map<std::string, std::vector<Handle>> by_user_;
};

}  // namespace courier::broker
