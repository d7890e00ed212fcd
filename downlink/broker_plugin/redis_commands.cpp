#include "downlink/broker_plugin/redis_commands.h"

#include "common/keys.h"

namespace courier::broker {

RedisCommand RoomMemberCommand(std::string_view room_id, std::string_view user_id) {
  return {"SISMEMBER", keys::RoomMembers(room_id), std::string(user_id)};
}

RedisCommand PresenceTaskCommand(const PresenceChange& change, int shards) {
  return {"XADD",
          keys::FanoutStream(keys::DeliveryShard(change.user_id, shards)),
          "MAXLEN",
          "~",
          std::to_string(kFanoutStreamMaxLen),
          "*",
          "k",
          "presence",
          "u",
          change.user_id,
          "on",
          change.online ? "1" : "0",
          "ts",
          std::to_string(change.ts_ms)};
}

}  // namespace courier::broker
