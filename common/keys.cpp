#include "common/keys.h"

namespace courier::keys {

namespace {

std::string UserKey(std::string_view user_id, std::string_view suffix) {
  std::string k = "{u:";
  k.append(user_id).append("}:").append(suffix);
  return k;
}

std::string UserKey(std::string_view user_id, std::string_view kind, std::string_view sub) {
  std::string k = UserKey(user_id, kind);
  k.append(":").append(sub);
  return k;
}

std::string ConvKey(std::string_view conv, std::string_view suffix) {
  std::string k = "{c:";
  k.append(conv).append("}:").append(suffix);
  return k;
}

}  // namespace

std::string User(std::string_view u) { return UserKey(u, "user"); }
std::string Operation(std::string_view u, std::string_view op) { return UserKey(u, "op", op); }
std::string InboxMeta(std::string_view u) { return UserKey(u, "meta"); }
std::string Inbox(std::string_view u) { return UserKey(u, "inbox"); }
std::string Session(std::string_view u, std::string_view sid) { return UserKey(u, "sess", sid); }
std::string PlatformSession(std::string_view u, std::string_view p) {
  return UserKey(u, "plat", p);
}
std::string Cmid(std::string_view u, std::string_view cmid) { return UserKey(u, "cmid", cmid); }
std::string SendRate(std::string_view u) { return UserKey(u, "rate"); }
std::string LoginFailures(std::string_view u) { return UserKey(u, "loginfail"); }
std::string KickOutbox(std::string_view u) { return UserKey(u, "kicks"); }
std::string Acks(std::string_view u) { return UserKey(u, "acks"); }
std::string Online(std::string_view u) { return UserKey(u, "online"); }
std::string LastSeen(std::string_view u) { return UserKey(u, "seen"); }

std::string Friends(std::string_view u) { return UserKey(u, "friends"); }
std::string FriendRequests(std::string_view u) { return UserKey(u, "freq"); }
std::string FriendRequestsIn(std::string_view u) { return UserKey(u, "freqin"); }
std::string Blocks(std::string_view u) { return UserKey(u, "blocks"); }
std::string FanIn(std::string_view u) { return UserKey(u, "fanin"); }
std::string Conversations(std::string_view u) { return UserKey(u, "convs"); }
std::string ConversationLast(std::string_view u) { return UserKey(u, "convlast"); }
std::string ConversationRead(std::string_view u) { return UserKey(u, "convread"); }
std::string ConversationUnread(std::string_view u) { return UserKey(u, "convunread"); }

std::string ConversationMeta(std::string_view conv) { return ConvKey(conv, "meta"); }
std::string ConversationLog(std::string_view conv) { return ConvKey(conv, "log"); }
std::string ConversationRecalled(std::string_view conv) { return ConvKey(conv, "recalled"); }
std::string ConversationOperation(std::string_view conv, std::string_view op) {
  std::string k = ConvKey(conv, "op");
  k.append(":").append(op);
  return k;
}

namespace {
std::string GroupKey(std::string_view gid, std::string_view suffix) {
  std::string conv = "g:";
  conv.append(gid);
  return ConvKey(conv, suffix);
}
}  // namespace

std::string Group(std::string_view g) { return GroupKey(g, "group"); }
std::string GroupMembers(std::string_view g) { return GroupKey(g, "members"); }
std::string GroupJoined(std::string_view g) { return GroupKey(g, "joined"); }
std::string GroupLeft(std::string_view g) { return GroupKey(g, "left"); }
std::string GroupFeed(std::string_view g) { return GroupKey(g, "feed"); }

std::string RoomMembers(std::string_view r) {
  std::string conv = "r:";
  conv.append(r);
  return ConvKey(conv, "members");
}

namespace {
std::string AddressKey(std::string_view address, std::string_view suffix) {
  std::string k = "{a:";
  k.append(address).append("}:").append(suffix);
  return k;
}
}  // namespace

std::string AddressLoginFailures(std::string_view a) { return AddressKey(a, "loginfail"); }
std::string AddressRegistrations(std::string_view a) { return AddressKey(a, "register"); }

std::string MessageIndex(std::string_view id) {
  std::string k = "{m:";
  k.append(id).append("}");
  return k;
}

int DeliveryShard(std::string_view user_id, int shard_count) {
  // FNV-1a: stable across processes, platforms and releases (std::hash is none of these).
  uint32_t h = 2166136261u;
  for (unsigned char c : user_id) {
    h ^= c;
    h *= 16777619u;
  }
  return shard_count <= 1 ? 0 : static_cast<int>(h % static_cast<uint32_t>(shard_count));
}

std::string PushCursors(int shard) { return "{dq:" + std::to_string(shard) + "}:pushed"; }

std::string DeliveryStream(int shard) { return "{dq:" + std::to_string(shard) + "}:deliveries"; }
std::string FanoutStream(int shard) { return "{fq:" + std::to_string(shard) + "}:fanout"; }
std::string DeliveryShardOwner(int shard) { return "{dq:" + std::to_string(shard) + "}:owner"; }
std::string FanoutShardOwner(int shard) { return "{fq:" + std::to_string(shard) + "}:owner"; }
std::string LiveDownlinks() { return "{downlinks}:live"; }
std::string BrokerDevices() { return "{brokers}:devices"; }

}  // namespace courier::keys
