// Redis key layout. Every key carries a hash tag so that one Lua script touches one slot of a
// Redis Cluster: {u:<user_id>} for everything a user owns, {c:<conv>} for a conversation,
// {dq:<n>} / {fq:<n>} for a delivery / fan-out queue shard (its stream and its lease),
// {downlinks} for the live downlinks, {a:<address>} for what is counted per client address.
// docs/design.md describes each key.
//
// Pure functions; thread-safe. REQUIRES: ids are valid (common/ids.h), so no escaping is needed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace courier::keys {

// Hash {password, display_name, created_at}.
std::string User(std::string_view user_id);
// String: the result of one step of a cross-slot operation `op` (a message id, a request id)
// in the user's slot, so that repeating the step does nothing (docs/design.md, "Cross-slot
// operations"). Expires with the cmid window.
std::string Operation(std::string_view user_id, std::string_view op);
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
// Hash {tokens, at}: the user's failed-login token bucket; exists only while not full.
std::string LoginFailures(std::string_view user_id);
// Hash session_id -> "<notify> <device> <kicked payload>": kicks of replaced or ended sessions
// recorded but maybe not queued yet (a crash between the two steps); every later login or logout
// of the user queues them again. Expires with the token lifetime.
std::string KickOutbox(std::string_view user_id);
// Hash device_id -> highest seq the device acknowledged.
std::string Acks(std::string_view user_id);
// Hash device_id -> online-until (ms since the Unix epoch); written by the broker plugin.
std::string Online(std::string_view user_id);
// String: when the user's last device went offline (ms since the Unix epoch).
std::string LastSeen(std::string_view user_id);

// Hash friend -> since (ms). Symmetric: each friend holds the other.
std::string Friends(std::string_view user_id);
// Hash request_id -> {request_id, from, note, ts} JSON: pending friend requests to the user.
std::string FriendRequests(std::string_view user_id);
// Hash requester -> request_id: the same pending requests to the user, by requester. Written and
// deleted with FriendRequests, in the same script, so a pending request lives in one slot.
std::string FriendRequestsIn(std::string_view user_id);
// Set of the users this user blocked.
std::string Blocks(std::string_view user_id);
// Hash group conv -> highest feed fseq copied into this inbox (the fan-out's idempotency).
std::string FanIn(std::string_view user_id);
// Sorted set conv -> inbox seq of the conversation's newest message in this inbox.
std::string Conversations(std::string_view user_id);
// Hash conv -> that newest message's inbox envelope.
std::string ConversationLast(std::string_view user_id);
// Hash conv -> highest conv_seq the user has read.
std::string ConversationRead(std::string_view user_id);
// Hash conv -> messages from others received since the user last read or wrote there.
std::string ConversationUnread(std::string_view user_id);

// Hash {seq, fseq, fanned}: the conversation's last conv_seq; for groups also the last feed
// entry and the fan-out watermark.
std::string ConversationMeta(std::string_view conv);
// Stream with ids <conv_seq>-0, field "e" holding the message JSON (no seq / epoch).
std::string ConversationLog(std::string_view conv);
// Set of the recalled conv_seqs of a conversation.
std::string ConversationRecalled(std::string_view conv);
// String: the result of one step of operation `op` in the conversation's slot (see Operation).
std::string ConversationOperation(std::string_view conv, std::string_view op);

// Groups: conv "g:<gid>". Hash {name, owner, created_at}.
std::string Group(std::string_view group_id);
// Hash member -> role.
std::string GroupMembers(std::string_view group_id);
// Hash member -> fseq of the feed entry that added them.
std::string GroupJoined(std::string_view group_id);
// Hash former member -> "<joined>:<left>" fseqs, kept until the fan-out passed <left>.
std::string GroupLeft(std::string_view group_id);
// Stream with ids <fseq>-0: everything that happens in the group, in order, until fanned out.
std::string GroupFeed(std::string_view group_id);

// Rooms: conv "r:<rid>". Set of members.
std::string RoomMembers(std::string_view room_id);

// Per client address (`address` as uplink/client_address.h makes it: an IPv4 address or an
// IPv6 /64 prefix). Hash {tokens, at}: the address's failed-login token bucket; exists only while
// not full.
std::string AddressLoginFailures(std::string_view address);
// Hash {tokens, at}: the address's registration token bucket; exists only while not full.
std::string AddressRegistrations(std::string_view address);

// Hash {conv, conv_seq, from, ts} of a message, kept for the recall window.
std::string MessageIndex(std::string_view message_id);

// The delivery-queue shard that carries a user's pushes; one user always maps to one shard,
// so one consumer sees that user's pushes in seq order.
int DeliveryShard(std::string_view user_id, int shard_count);
std::string DeliveryStream(int shard);
// Hash user -> highest inbox seq whose push was queued on the shard's stream (queue_pushes.lua).
std::string PushCursors(int shard);
// The fan-out task stream of a shard: a group's tasks go to DeliveryShard("g:<gid>"), a
// user's presence tasks to DeliveryShard(user_id).
std::string FanoutStream(int shard);
// String: the consumer name of the downlink that owns a shard (its lease), with the lease's TTL;
// in the shard's slot, so a script can check it beside the stream.
std::string DeliveryShardOwner(int shard);
std::string FanoutShardOwner(int shard);
// Sorted set: consumer name of each live downlink -> when its heartbeat expires (Redis time, ms).
std::string LiveDownlinks();
// Hash: each broker's report of its connected devices, broker -> "<devices> <valid until, ms
// since the Unix epoch>" (common/device_reports.h); written by the broker plugin, summed by the
// downlinks into courier_online_devices.
std::string BrokerDevices();

}  // namespace courier::keys
