#include "downlink/broker_plugin/redis_room_membership.h"

#include "downlink/broker_plugin/redis_commands.h"

namespace courier::broker {

Result<bool> RedisRoomMembership::IsMember(std::string_view room_id, std::string_view user_id) {
  Result<std::vector<RedisReplyPtr>> replies =
      redis_->Pipeline({RoomMemberCommand(room_id, user_id)});
  if (!replies.ok()) return replies.status();
  if (Status s = FirstErrorReply(*replies); !s.ok()) return s;
  const redisReply& reply = *replies->front();
  if (reply.type != REDIS_REPLY_INTEGER) {
    return Status::Unavailable("unexpected reply type from SISMEMBER");
  }
  return reply.integer == 1;
}

}  // namespace courier::broker
