#include "uplink/friend_service.h"

#include <nlohmann/json.hpp>

namespace courier {

using nlohmann::json;

FriendService::FriendService(SocialStore* store, const Clock* clock, IdGenerator* ids)
    : store_(store), clock_(clock), ids_(ids) {}

Notice FriendService::MakeNotice(std::string_view event, const std::string& data_json,
                                 int64_t now_ms) const {
  Notice n;
  n.now_ms = now_ms;
  n.rest = EncodeNotificationRest(event, data_json, n.now_ms);
  n.epoch = ids_->NewEpoch();
  n.op = ids_->NewMessageId(now_ms);
  return n;
}

Result<std::string> FriendService::Request(const Caller& caller, const FriendRequestBody& req) {
  if (req.to == caller.user_id) return Status::InvalidField("to: you can't befriend yourself");
  FriendRequestInfo info;
  info.ts = clock_->NowMs();
  info.request_id = ids_->NewMessageId(info.ts);
  info.from = caller.user_id;
  info.note = req.note;
  // The request as listed and its notification carry the same ts.
  Notice n = MakeNotice(
      "friend.request",
      json{{"request_id", info.request_id}, {"from", info.from}, {"note", info.note}}.dump(
          -1, ' ', false, json::error_handler_t::replace),
      info.ts);
  return store_->SendFriendRequest(caller, req.to, info, n);
}

Result<std::vector<FriendRequestInfo>> FriendService::Requests(const Caller& caller) {
  return store_->FriendRequests(caller);
}

Status FriendService::Answer(const Caller& caller, const std::string& request_id, bool accept) {
  Notice n = MakeNotice(accept ? "friend.accepted" : "friend.rejected",
                        json{{"request_id", request_id}, {"user_id", caller.user_id}}.dump(),
                        clock_->NowMs());
  return store_->AnswerFriendRequest(caller, request_id, accept, n);
}

Result<std::vector<FriendInfo>> FriendService::Friends(const Caller& caller) {
  return store_->Friends(caller);
}

Status FriendService::Remove(const Caller& caller, const std::string& other) {
  Notice n =
      MakeNotice("friend.removed", json{{"user_id", caller.user_id}}.dump(), clock_->NowMs());
  return store_->RemoveFriend(caller, other, n);
}

Status FriendService::SetBlocked(const Caller& caller, const std::string& other, bool blocked) {
  if (other == caller.user_id) return Status::InvalidField("user_id: you can't block yourself");
  return store_->SetBlocked(caller, other, blocked);
}

Result<std::vector<std::string>> FriendService::Blocks(const Caller& caller) {
  return store_->Blocks(caller);
}

}  // namespace courier
