// Friends and blocks: requests, answers, the friend list, ending a friendship, blocking.
// Each change and the notification it causes (friend.request, friend.accepted,
// friend.rejected, friend.removed) are written by the SocialStore in one step.
//
// Thread-safety: thread-safe (its collaborators are).
#pragma once

#include <string>
#include <vector>

#include "common/clock.h"
#include "common/social_store.h"
#include "uplink/id_generator.h"
#include "uplink/request_codec.h"

namespace courier {

class FriendService {
 public:
  // All pointers must outlive the service.
  FriendService(SocialStore* store, const Clock* clock, IdGenerator* ids);

  // The request id (the pending one's, if the caller already asked; the target's own pending
  // request to the caller, which this accepts, if there is one). InvalidField: to
  // oneself; NotFound; Blocked; Conflict: already friends.
  Result<std::string> Request(const Caller& caller, const FriendRequestBody& req);
  // Pending requests to the caller, oldest first.
  Result<std::vector<FriendRequestInfo>> Requests(const Caller& caller);
  // Only the request's target may answer; for anyone else it does not exist (NotFound).
  Status Answer(const Caller& caller, const std::string& request_id, bool accept);
  Result<std::vector<FriendInfo>> Friends(const Caller& caller);
  Status Remove(const Caller& caller, const std::string& other);
  Status SetBlocked(const Caller& caller, const std::string& other, bool blocked);
  Result<std::vector<std::string>> Blocks(const Caller& caller);

 private:
  Notice MakeNotice(std::string_view event, const std::string& data_json, int64_t now_ms) const;

  SocialStore* store_;
  const Clock* clock_;
  IdGenerator* ids_;
};

}  // namespace courier
