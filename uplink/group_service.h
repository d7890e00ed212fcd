// Groups and chat rooms: creating a group, its members and their rights, leaving; joining and
// leaving rooms. The rules are here; the state and the notifications are written by the
// SocialStore in one step each.
//
// Rights: any user creates a group and owns it; members read it (others get NotMember); the
// owner and admins add members; the owner removes members and makes members admins (or
// members again); anyone leaves. A room is open:
// joining creates it, and only joined users send to it, read its history or subscribe to it.
//
// Thread-safety: thread-safe (its collaborators are).
#pragma once

#include <string>
#include <vector>

#include "common/clock.h"
#include "common/config.h"
#include "common/social_store.h"
#include "uplink/id_generator.h"
#include "uplink/request_codec.h"

namespace courier {

class GroupService {
 public:
  // All pointers must outlive the service.
  GroupService(SocialStore* store, const Clock* clock, IdGenerator* ids, Limits limits);

  // The new group. InvalidField: too many members; Conflict: the id is taken; NotFound: a
  // listed user does not exist.
  Result<GroupInfo> Create(const Caller& caller, const CreateGroupRequest& req);
  // NotFound: no such group; NotMember: the caller is not in it.
  Result<GroupInfo> Get(const Caller& caller, const std::string& group_id);
  // The group after adding `users`.
  Result<GroupInfo> AddMembers(const Caller& caller, const std::string& group_id,
                               const std::vector<std::string>& users);
  // Leave (target == caller) or remove (the owner).
  Status RemoveMember(const Caller& caller, const std::string& group_id, const std::string& target);

  // The owner sets another member's role: "admin" or "member" (InvalidField otherwise).
  Status SetRole(const Caller& caller, const std::string& group_id, const std::string& target,
                 const std::string& role);

  Status JoinRoom(const Caller& caller, const std::string& room_id);
  Status LeaveRoom(const Caller& caller, const std::string& room_id);

 private:
  SocialStore* store_;
  const Clock* clock_;
  IdGenerator* ids_;
  const Limits limits_;
};

}  // namespace courier
