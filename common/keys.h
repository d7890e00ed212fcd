// Redis key layout. Every key carries a hash tag so that one Lua script touches one slot of a
// Redis Cluster: {u:<user_id>} for everything a user owns, {c:<conv>} for a conversation,
// {dq:<n>} for a delivery-queue shard. docs/design.md describes each key.
//
// Pure functions; thread-safe. REQUIRES: ids are valid (common/ids.h), so no escaping is needed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace courier::keys {

// Hash {password, display_name, created_at}.
std::string User(std::string_view user_id);
// Hash {seq, epoch}: the inbox's last seq and its epoch.
std::string InboxMeta(std::string_view user_id);
// Stream with ids <seq>-0, one field "e" holding the envelope JSON.
std::string Inbox(std::string_view user_id);
// Hash {device, platform, expires_at}, expiring with the token. Its existence = the session lives.
std::string Session(std::string_view user_id, std::string_view session_id);
// String: the live session id of the user on that platform (single sign-on).
std::string PlatformSession(std::string_view user_id, std::string_view platform);
// Hash {id, conv, conv_seq, ts} of an accepted send, kept for the de-duplication window.
std::string Cmid(std::string_view user_id, std::string_view cmid);
// Hash {tokens, at}: the user's send-rate token bucket.
std::string SendRate(std::string_view user_id);
// Hash device_id -> highest seq the device acknowledged.
std::string Acks(std::string_view user_id);
// Hash device_id -> online-until (ms since the Unix epoch); written by the broker plugin.
std::string Online(std::string_view user_id);
// String: when the user's last device went offline (ms since the Unix epoch).
std::string LastSeen(std::string_view user_id);

// Hash {seq}: the conversation's last conv_seq.
std::string ConversationMeta(std::string_view conv);
// Stream with ids <conv_seq>-0, field "e" holding the message JSON (no seq / epoch).
std::string ConversationLog(std::string_view conv);

// The delivery-queue shard that carries a user's pushes; one user always maps to one shard,
// so one consumer sees that user's pushes in seq order.
int DeliveryShard(std::string_view user_id, int shard_count);
std::string DeliveryStream(int shard);

}  // namespace courier::keys
