#include "uplink/group_service.h"

#include <nlohmann/json.hpp>

namespace courier {

namespace {

using nlohmann::json;

std::string GroupEvent(std::string_view event, json data, int64_t now_ms) {
  return EncodeNotificationRest(event, data.dump(), now_ms);
}

}  // namespace

GroupService::GroupService(SocialStore* store, const Clock* clock, IdGenerator* ids, Limits limits)
    : store_(store), clock_(clock), ids_(ids), limits_(limits) {}

Result<GroupInfo> GroupService::Create(const Caller& caller, const CreateGroupRequest& req) {
  NewGroup g;
  g.now_ms = clock_->NowMs();
  g.group_id = req.group_id.empty() ? ids_->NewMessageId(g.now_ms) : req.group_id;
  g.name = req.name;
  for (const auto& m : req.members) {
    if (m != caller.user_id) g.members.push_back(m);
  }
  if (g.members.size() + 1 > static_cast<size_t>(limits_.group_max_members)) {
    return Status::InvalidField("a group has at most " + std::to_string(limits_.group_max_members) +
                                " members");
  }
  g.created_rest = GroupEvent("group.created",
                              {{"group_id", g.group_id},
                               {"name", g.name},
                               {"owner", caller.user_id},
                               {"by", caller.user_id}},
                              g.now_ms);
  if (Status s = store_->CreateGroup(caller, g); !s.ok()) return s;
  return store_->GetGroup(caller, g.group_id);
}

Result<GroupInfo> GroupService::Get(const Caller& caller, const std::string& group_id) {
  auto g = store_->GetGroup(caller, group_id);
  if (!g.ok()) return g;
  for (const auto& m : g->members) {
    if (m.user_id == caller.user_id) return g;
  }
  return Status::NotMember("only members can see group " + group_id);
}

Result<GroupInfo> GroupService::AddMembers(const Caller& caller, const std::string& group_id,
                                           const std::vector<std::string>& users) {
  int64_t now = clock_->NowMs();
  std::vector<std::pair<std::string, std::string>> adds;
  for (const auto& u : users) {
    adds.emplace_back(
        u, GroupEvent("group.member_added",
                      {{"group_id", group_id}, {"user_id", u}, {"by", caller.user_id}}, now));
  }
  auto added = store_->AddMembers(caller, group_id, adds, limits_.group_max_members);
  if (!added.ok()) return added.status();
  return store_->GetGroup(caller, group_id);
}

Status GroupService::RemoveMember(const Caller& caller, const std::string& group_id,
                                  const std::string& target) {
  int64_t now = clock_->NowMs();
  std::string rest =
      target == caller.user_id
          ? GroupEvent("group.member_left",
                       {{"group_id", group_id}, {"user_id", target}, {"by", target}}, now)
          : GroupEvent("group.member_removed",
                       {{"group_id", group_id}, {"user_id", target}, {"by", caller.user_id}}, now);
  return store_->RemoveMember(caller, group_id, target, rest, now);
}

Status GroupService::SetRole(const Caller& caller, const std::string& group_id,
                             const std::string& target, const std::string& role) {
  if (role != "admin" && role != "member") {
    return Status::InvalidField("role must be admin or member");
  }
  return store_->SetRole(caller, group_id, target, role, clock_->NowMs());
}

Status GroupService::JoinRoom(const Caller& caller, const std::string& room_id) {
  return store_->JoinRoom(caller, room_id);
}

Status GroupService::LeaveRoom(const Caller& caller, const std::string& room_id) {
  return store_->LeaveRoom(caller, room_id);
}

}  // namespace courier
