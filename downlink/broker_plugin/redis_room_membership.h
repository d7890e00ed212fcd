// Room membership as the uplink keeps it in Redis: the set keys::RoomMembers(room)
// ({c:r:<room_id>}:members, docs/design.md "Rooms"). The plugin asks it once per room
// SUBSCRIBE; deliveries are checked against the connection's memory instead (ClientRegistry).
//
// Thread-safety: not thread-safe; one owner (the plugin, on Mosquitto's main thread).
#pragma once

#include <string_view>

#include "common/status.h"
#include "downlink/broker_plugin/bounded_redis_connection.h"

namespace courier::broker {

class RedisRoomMembership {
 public:
  // REQUIRES: `redis` outlives this object.
  explicit RedisRoomMembership(BoundedRedisConnection* redis) : redis_(redis) {}
  RedisRoomMembership(const RedisRoomMembership&) = delete;
  RedisRoomMembership& operator=(const RedisRoomMembership&) = delete;

  // Whether `user_id` is a member of the room now (one SISMEMBER). Unavailable when Redis
  // can't be reached in time or answers with an error; the caller then refuses.
  Result<bool> IsMember(std::string_view room_id, std::string_view user_id);

 private:
  BoundedRedisConnection* redis_;
};

}  // namespace courier::broker
