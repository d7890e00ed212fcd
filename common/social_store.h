// SocialStore: the durable state of everything beyond one-to-one messages — groups, rooms,
// friends and blocks, the conversation list, read receipts, recalls and signals — as one
// interface over Redis (common/redis_social_store.h). The rules (who may do what) live in the
// uplink's services; this layer makes every state change together with the notifications it
// causes (into the inboxes, or a group's feed): in one step, or in steps that a retry of the call
// completes (docs/design.md, "Cross-slot operations").
//
// Every call made for a session fails with Unauthorized once the session has ended. A failure of
// the backing store is Unavailable and leaves either no change or one that repeating the call
// completes, never one it duplicates.
//
// Thread-safety: implementations are thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/envelope.h"
#include "common/ids.h"
#include "common/message_store.h"
#include "common/status.h"

namespace courier {

struct GroupMember {
  std::string user_id;
  std::string role;         // "owner", "admin" or "member"
  int64_t joined_fseq = 0;  // position in the group's feed when added (orders the list)
};

struct GroupInfo {
  std::string group_id;
  std::string name;
  std::string owner;
  int64_t created_at_ms = 0;
  std::vector<GroupMember> members;  // owner first, then in the order they joined
};

struct NewGroup {
  std::string group_id;
  std::string name;
  std::vector<std::string> members;  // besides the creator; distinct, creator not included
  std::string created_rest;          // EncodeNotificationRest of group.created
  int64_t now_ms = 0;
};

// A message to a group or a room.
struct ConversationSend {
  Caller sender;
  std::string target_id;  // group id or room id
  std::string cmid;
  Message message;
  EnvelopeParts parts;
};

// Whether a conversation exists and the user belongs to it.
struct Membership {
  bool exists = false;
  bool member = false;
};

struct FriendRequestInfo {
  std::string request_id;
  std::string from;
  std::string note;
  int64_t ts = 0;
};

struct FriendInfo {
  std::string user_id;
  int64_t since_ms = 0;
};

struct ConversationSummary {
  std::string conv;
  std::string last;  // the newest message's inbox envelope (JSON)
  int64_t unread = 0;
};

// What the recall needs to know about a message.
struct MessageRef {
  std::string id;
  std::string conv;
  int64_t conv_seq = 0;
  std::string from;
  int64_t ts = 0;
};

// A notification for one user's inbox: its envelope rest (EncodeNotificationRest) and the
// epoch to use if the inbox has none.
struct Notice {
  std::string rest;
  std::string epoch;
  int64_t now_ms = 0;
  // A fresh id (a ULID) naming the operation, so that a step repeated after a crash writes the
  // notification once (docs/design.md, "Cross-slot operations"). Required by RemoveFriend.
  std::string op;
};

class SocialStore {
 public:
  virtual ~SocialStore() = default;

  // Groups. Conflict: the id is taken; NotFound: a listed user does not exist.
  virtual Status CreateGroup(const Caller& caller, const NewGroup& group) = 0;
  // NotFound: no such group. The caller's membership is checked by the core.
  virtual Result<GroupInfo> GetGroup(const Caller& caller, const std::string& group_id) = 0;
  // Adds `users` (pairs of user and their group.member_added envelope rest); returns those
  // that were not members yet. NotFound (group or user), NotMember, Forbidden (not owner or
  // admin), Conflict (the group would exceed `max_members`).
  virtual Result<std::vector<std::string>> AddMembers(
      const Caller& caller, const std::string& group_id,
      const std::vector<std::pair<std::string, std::string>>& users, int max_members) = 0;
  // `target` leaves (target == caller) or is removed by the owner; `rest` is the
  // group.member_left / group.member_removed envelope rest. NotFound (group, or target not a
  // member), NotMember, Forbidden.
  virtual Status RemoveMember(const Caller& caller, const std::string& group_id,
                              const std::string& target, const std::string& rest,
                              int64_t now_ms) = 0;
  // The owner sets a member's role ("admin" or "member"). NotFound (group, or target not a
  // member), NotMember, Forbidden (not the owner, or the owner's own role).
  virtual Status SetRole(const Caller& caller, const std::string& group_id,
                         const std::string& target, const std::string& role, int64_t now_ms) = 0;
  // NotFound: no such group; NotMember; RateLimited.
  virtual Result<SendOutcome> SendGroup(const ConversationSend& send, int64_t now_ms) = 0;

  // Rooms (created by their first join).
  virtual Status JoinRoom(const Caller& caller, const std::string& room_id) = 0;
  virtual Status LeaveRoom(const Caller& caller, const std::string& room_id) = 0;
  // NotMember; RateLimited.
  virtual Result<SendOutcome> SendRoom(const ConversationSend& send, int64_t now_ms) = 0;

  // Whether `conv` (a group or room conv id) exists and the caller belongs to it.
  virtual Result<Membership> MembershipOf(const Caller& caller, const std::string& conv) = 0;

  // Friends. Returns the request id (an earlier pending one's, if any). NotFound, Blocked,
  // Conflict (already friends).
  virtual Result<std::string> SendFriendRequest(const Caller& caller, const std::string& to,
                                                const FriendRequestInfo& request,
                                                const Notice& notice) = 0;
  virtual Result<std::vector<FriendRequestInfo>> FriendRequests(const Caller& caller) = 0;
  // NotFound: no such pending request to the caller. The requester gets `notice`.
  virtual Status AnswerFriendRequest(const Caller& caller, const std::string& request_id,
                                     bool accept, const Notice& notice) = 0;
  virtual Result<std::vector<FriendInfo>> Friends(const Caller& caller) = 0;
  // NotFound: not friends. The other user gets `notice`.
  virtual Status RemoveFriend(const Caller& caller, const std::string& other,
                              const Notice& notice) = 0;
  // NotFound: blocking a user who does not exist.
  virtual Status SetBlocked(const Caller& caller, const std::string& other, bool blocked) = 0;
  virtual Result<std::vector<std::string>> Blocks(const Caller& caller) = 0;

  // The caller's conversations, newest activity first, at most `limit`.
  virtual Result<std::vector<ConversationSummary>> Conversations(const Caller& caller,
                                                                 int limit) = 0;
  // Moves the caller's read mark of `conv` (a one-to-one or group conv) up to conv_seq and
  // tells the other members; returns the mark. `other` is the other user of a one-to-one
  // chat. NotMember for a group the caller is not in.
  virtual Result<int64_t> MarkRead(const Caller& caller, const std::string& conv,
                                   const std::string& other, int64_t conv_seq,
                                   const std::string& epoch, int64_t now_ms) = 0;
  // NotFound: no such message, or its recall window (the index's lifetime) has passed.
  virtual Result<MessageRef> FindMessage(const Caller& caller, const std::string& id) = 0;
  // Marks the message recalled and tells every member with `notice`. NotMember.
  virtual Status Recall(const Caller& caller, const MessageRef& message, const Notice& notice) = 0;

  // Pushes `payload` once to `to` (a user: checked like a send) or to a group's members.
  // Takes a token from the sender's send bucket. NotFound, Blocked, Forbidden (friends
  // policy), NotMember, RateLimited.
  virtual Status Signal(const Caller& caller, const Recipient& to, const std::string& conv,
                        const std::string& payload, int64_t now_ms) = 0;
};

}  // namespace courier
