// SocialStore over Redis. Every script and command touches one Redis Cluster slot: a change
// that spans owners (two users, a user and a group, a state and a stream) is a sequence of
// single-slot steps, each idempotent or recorded by a marker, ordered so that a crash between
// two leaves a harmless state that a retry of the request completes (docs/design.md,
// "Cross-slot operations"). Key layout: common/keys.h and docs/design.md.
//
// Thread-safety: thread-safe; connections come from the shared RedisPool.
#pragma once

#include "common/redis_client.h"
#include "common/redis_sends.h"
#include "common/redis_steps.h"
#include "common/social_store.h"

namespace courier {

class RedisSocialStore final : public SocialStore {
 public:
  // `pool` must outlive the store.
  RedisSocialStore(RedisPool* pool, StorePolicy policy);

  Status CreateGroup(const Caller& caller, const NewGroup& group) override;
  Result<GroupInfo> GetGroup(const Caller& caller, const std::string& group_id) override;
  Result<std::vector<std::string>> AddMembers(
      const Caller& caller, const std::string& group_id,
      const std::vector<std::pair<std::string, std::string>>& users, int max_members) override;
  Status RemoveMember(const Caller& caller, const std::string& group_id, const std::string& target,
                      const std::string& rest, int64_t now_ms) override;
  Status SetRole(const Caller& caller, const std::string& group_id, const std::string& target,
                 const std::string& role, int64_t now_ms) override;
  Result<SendOutcome> SendGroup(const ConversationSend& send, int64_t now_ms) override;

  Status JoinRoom(const Caller& caller, const std::string& room_id) override;
  Status LeaveRoom(const Caller& caller, const std::string& room_id) override;
  Result<SendOutcome> SendRoom(const ConversationSend& send, int64_t now_ms) override;

  Result<Membership> MembershipOf(const Caller& caller, const std::string& conv) override;

  Result<std::string> SendFriendRequest(const Caller& caller, const std::string& to,
                                        const FriendRequestInfo& request,
                                        const Notice& notice) override;
  Result<std::vector<FriendRequestInfo>> FriendRequests(const Caller& caller) override;
  Status AnswerFriendRequest(const Caller& caller, const std::string& request_id, bool accept,
                             const Notice& notice) override;
  Result<std::vector<FriendInfo>> Friends(const Caller& caller) override;
  Status RemoveFriend(const Caller& caller, const std::string& other,
                      const Notice& notice) override;
  Status SetBlocked(const Caller& caller, const std::string& other, bool blocked) override;
  Result<std::vector<std::string>> Blocks(const Caller& caller) override;

  Result<std::vector<ConversationSummary>> Conversations(const Caller& caller, int limit) override;
  Result<int64_t> MarkRead(const Caller& caller, const std::string& conv, const std::string& other,
                           int64_t conv_seq, const std::string& epoch, int64_t now_ms) override;
  Result<MessageRef> FindMessage(const Caller& caller, const std::string& id) override;
  Status Recall(const Caller& caller, const MessageRef& message, const Notice& notice) override;

  Status Signal(const Caller& caller, const Recipient& to, const std::string& conv,
                const std::string& payload, int64_t now_ms) override;

 private:
  std::string DeliveryStreamOf(const std::string& id) const;
  std::string FanoutStreamOf(const std::string& conv) const;
  // Runs `script` and turns an error verdict into a Status; OK for "ok".
  Result<RedisValue> Run(const RedisScript& script, const std::vector<std::string>& keys,
                         const std::vector<std::string>& args, const std::string& not_found);
  // A notification into group `gid`'s feed by member `c` (group_note.lua, idempotent by `op`),
  // then its fan-out task; with `recalled_conv_seq`, also marks that message recalled.
  Status GroupNote(const Caller& c, const std::string& conv, const std::string& gid,
                   const std::string& op, const std::string& rest, const std::string& skip,
                   const std::string& recalled_conv_seq);
  // ARGV tail shared by scripts that append to inboxes.
  std::vector<std::string> InboxSettings() const;
  // The step after a step in a group's slot, whose reply is {verdict, fseq, ...}: queues the
  // feed's fan-out task when fseq > 0 (an entry is not fanned out yet).
  Status QueueFanout(const std::string& conv, const RedisValue& group_step_reply);
  // friend.accepted / friend.rejected into the requester's inbox, once per answered request
  // (marker {u:<requester>}:op:answer:<request id>).
  Result<std::vector<InboxEntry>> PutAnswer(const std::string& requester,
                                            const std::string& request_id, const std::string& rest,
                                            const Notice& notice);
  // Runs a read-only pipeline after checking the caller's session in the same round trip.
  Result<std::vector<RedisValue>> ReadAs(const Caller& caller,
                                         std::vector<std::vector<std::string>> commands);

  RedisPool* pool_;
  const StorePolicy policy_;
  RedisSends sends_{pool_, &policy_};
  RedisSteps steps_{pool_, &policy_};
  const RedisScript create_group_{"create_group"};
  const RedisScript add_members_{"add_members"};
  const RedisScript remove_member_{"remove_member"};
  const RedisScript set_role_{"set_role"};
  const RedisScript friend_request_{"friend_request"};
  const RedisScript friend_answer_{"friend_answer"};
  const RedisScript friend_remove_{"friend_remove"};
  const RedisScript block_{"block"};
  const RedisScript read_mark_{"read_mark"};
  const RedisScript group_note_{"group_note"};
  const RedisScript signal_take_{"signal_take"};
};

}  // namespace courier
