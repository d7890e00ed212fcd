// The values the SDK's calls return (SPEC §3), as plain structs: what a login, a send, a group,
// a friend request, a conversation or a presence answer holds. api_codec.h turns answers into
// these and back; courier_client.h returns them.
//
// Thread-safety: values; safe to copy between threads.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace courier::client {

struct LoginInfo {
  std::string user_id;
  std::string device_id;
  std::string token;
  int64_t expires_at_ms = 0;
  nlohmann::json mqtt;  // the login answer's mqtt block
};

struct SendResult {
  std::string id;
  std::string conv;
  int64_t conv_seq = 0;
  int64_t ts = 0;
  std::string cmid;
  bool duplicate = false;  // the server already had this cmid (an earlier attempt got through)
  int attempts = 0;
};

struct GroupMember {
  std::string user_id;
  std::string role;  // "owner", "admin" or "member"
};

struct Group {
  std::string group_id;
  std::string name;
  std::string owner;  // "" if the group has none (the owner left)
  std::vector<GroupMember> members;
  int64_t created_at_ms = 0;  // 0 if the server did not say
};

// A pending friend request to the caller.
struct FriendRequest {
  std::string request_id;
  std::string from;
  std::string note;  // "" if none
  int64_t ts = 0;
};

struct Friend {
  std::string user_id;
  int64_t since_ms = 0;
};

// One entry of the conversations list: the conversation's newest message and how many of its
// messages the caller has not read.
struct ConversationSummary {
  std::string conv;     // u:<a>:<b>, g:<group_id> or r:<room_id>
  nlohmann::json last;  // an inbox envelope
  int64_t unread = 0;
};

// One page of a conversation's history, newest first.
struct MessagePage {
  std::vector<nlohmann::json> items;  // message envelopes
  bool has_more = false;              // older messages exist: ask again with before = the last
                                      // item's conv_seq
};

struct Presence {
  bool online = false;
  int64_t last_seen_ms = 0;  // 0: never seen
};

}  // namespace courier::client
