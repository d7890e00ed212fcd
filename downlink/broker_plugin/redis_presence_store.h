// The broker plugin's Redis work for devices: session liveness at CONNECT, the online state of
// devices (common/keys.h: Session, Online, LastSeen), and the presence tasks that tell a user's
// friends when the user comes online or goes offline (docs/design.md, "Signals and presence").
//
// keys::Online(user) is a hash device_id -> online-until (ms since the Unix epoch). The whole
// hash expires `presence_ttl` after its last write, but a field can outlive its device while a
// sibling device keeps refreshing the hash; readers must treat a field whose value is in the
// past as offline — and so does this store when it decides whether a user's presence changed:
// the user is online while any field of the hash is live (value > now).
//
// Every script touches one user's keys only (one hash tag, one Redis Cluster slot); the
// presence task goes to a fan-out stream in another slot, so it is a command of its own, sent
// only when a script reports a change.
//
// Thread-safety: not thread-safe; one owner (the plugin, on Mosquitto's main thread).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "downlink/broker_plugin/bounded_redis_connection.h"
#include "downlink/broker_plugin/client_registry.h"
#include "downlink/broker_plugin/redis_commands.h"

namespace courier::broker {

class RedisPresenceStore {
 public:
  struct Options {
    int64_t presence_ttl_ms = 90'000;
    int shards = 4;  // keys::DeliveryShard(user, shards) picks the fan-out stream
  };

  enum class SessionCheck {
    kEnded,       // the session is gone: refuse the device
    kOnline,      // marked online; the user already was (another device, or this one before)
    kCameOnline,  // marked online; the user was offline until now: a presence change
  };

  // REQUIRES: `redis` outlives the store.
  RedisPresenceStore(BoundedRedisConnection* redis, Options options);
  RedisPresenceStore(const RedisPresenceStore&) = delete;
  RedisPresenceStore& operator=(const RedisPresenceStore&) = delete;

  // In one round trip (a Lua script): if keys::Session(user, session) exists and belongs to
  // this device (a token naming another device than its session's is refused), marks the device
  // online until now_ms + ttl and tells whether the user had any live device before (this one's
  // own field included: a device that takes over its own connection, or comes back before its
  // mark lapsed, was never shown offline). kEnded when the session has ended (or is another
  // device's). Unavailable when
  // Redis can't be reached or answers with an error.
  Result<SessionCheck> CheckSessionAndMarkOnline(std::string_view user_id,
                                                 std::string_view session_id,
                                                 std::string_view device_id, int64_t now_ms);

  // Removes the devices' online marks and sets their users' last-seen time, one script a device,
  // pipelined. Returns the users who went offline: a device of theirs was marked and, after its
  // removal, no live mark is left (each user at most once). Unavailable as above.
  Result<std::vector<std::string>> MarkOffline(const std::vector<DeviceRef>& devices,
                                               int64_t now_ms);

  // Extends the online mark of every device to now_ms + ttl, pipelined (two commands a device).
  // Never a presence change: a device being refreshed was online all along.
  Status RefreshOnline(const std::vector<DeviceRef>& devices, int64_t now_ms);

  // Queues one presence task per change (redis_commands.h, PresenceTaskCommand), pipelined.
  Status QueuePresenceChanges(const std::vector<PresenceChange>& changes);

  // This broker's count of connected devices, valid for kDeviceReportValidMs from now_ms, in
  // keys::BrokerDevices() under `broker` (common/device_reports.h).
  Status ReportDevices(const std::string& broker, size_t devices, int64_t now_ms);
  // Removes this broker's report: it is stopping.
  Status ForgetDevices(const std::string& broker);

 private:
  BoundedRedisConnection* redis_;
  Options options_;
};

}  // namespace courier::broker
