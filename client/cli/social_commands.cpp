// The CLI's group, friend and block commands: one SDK call each (commands.h).
#include <nlohmann/json.hpp>

#include "client/api_codec.h"
#include "client/cli/command_support.h"
#include "client/cli/commands.h"

namespace courier::client::cli {

namespace {

using nlohmann::json;

json Items(const json& items) { return json{{"items", items}}; }

template <typename T>
json ItemsOf(const std::vector<T>& values) {
  json items = json::array();
  for (const T& v : values) items.push_back(ToJson(v));
  return Items(items);
}

json GroupJson(const Group& group) { return ToJson(group); }

}  // namespace

int RunGroupCreate(const GlobalArgs& global, const DeviceArgs& device, const GroupArgs& args) {
  return RunQuery(
      global, device,
      [&](Client& c) { return c.CreateGroup(args.name, args.users, args.group_id); }, GroupJson);
}

int RunGroupShow(const GlobalArgs& global, const DeviceArgs& device, const GroupArgs& args) {
  return RunQuery(
      global, device, [&](Client& c) { return c.GetGroup(args.group_id); }, GroupJson);
}

int RunGroupAdd(const GlobalArgs& global, const DeviceArgs& device, const GroupArgs& args) {
  return RunQuery(
      global, device, [&](Client& c) { return c.AddGroupMembers(args.group_id, args.users); },
      GroupJson);
}

int RunGroupRemove(const GlobalArgs& global, const DeviceArgs& device, const GroupArgs& args) {
  const std::string user = args.users.empty() ? std::string() : args.users.front();
  return RunAction(
      global, device, [&](Client& c) { return c.RemoveGroupMember(args.group_id, user); },
      json{{"group_id", args.group_id}, {"user_id", user}, {"removed", true}});
}

int RunGroupLeave(const GlobalArgs& global, const DeviceArgs& device, const GroupArgs& args) {
  return RunAction(
      global, device, [&](Client& c) { return c.LeaveGroup(args.group_id); },
      json{{"group_id", args.group_id}, {"user_id", device.user}, {"left", true}});
}

int RunGroupRole(const GlobalArgs& global, const DeviceArgs& device, const GroupArgs& args) {
  return RunQuery(
      global, device,
      [&](Client& c) { return c.SetGroupRole(args.group_id, args.member, args.role); }, GroupJson);
}

int RunFriendRequest(const GlobalArgs& global, const DeviceArgs& device, const FriendArgs& args) {
  return RunQuery(
      global, device, [&](Client& c) { return c.RequestFriend(args.user, args.note); },
      [&](const std::string& id) {
        return json{{"request_id", id}, {"to", args.user}};
      });
}

int RunFriendRequests(const GlobalArgs& global, const DeviceArgs& device) {
  return RunQuery(
      global, device, [](Client& c) { return c.FriendRequests(); },
      [](const std::vector<FriendRequest>& requests) { return ItemsOf(requests); });
}

int RunFriendAccept(const GlobalArgs& global, const DeviceArgs& device, const FriendArgs& args) {
  return RunAction(
      global, device, [&](Client& c) { return c.AcceptFriendRequest(args.request_id); },
      json{{"request_id", args.request_id}, {"accepted", true}});
}

int RunFriendReject(const GlobalArgs& global, const DeviceArgs& device, const FriendArgs& args) {
  return RunAction(
      global, device, [&](Client& c) { return c.RejectFriendRequest(args.request_id); },
      json{{"request_id", args.request_id}, {"rejected", true}});
}

int RunFriendList(const GlobalArgs& global, const DeviceArgs& device) {
  return RunQuery(
      global, device, [](Client& c) { return c.Friends(); },
      [](const std::vector<Friend>& friends) { return ItemsOf(friends); });
}

int RunFriendRemove(const GlobalArgs& global, const DeviceArgs& device, const FriendArgs& args) {
  return RunAction(
      global, device, [&](Client& c) { return c.RemoveFriend(args.user); },
      json{{"user_id", args.user}, {"removed", true}});
}

int RunBlock(const GlobalArgs& global, const DeviceArgs& device, const std::string& user) {
  return RunAction(
      global, device, [&](Client& c) { return c.Block(user); },
      json{{"user_id", user}, {"blocked", true}});
}

int RunUnblock(const GlobalArgs& global, const DeviceArgs& device, const std::string& user) {
  return RunAction(
      global, device, [&](Client& c) { return c.Unblock(user); },
      json{{"user_id", user}, {"blocked", false}});
}

int RunBlocks(const GlobalArgs& global, const DeviceArgs& device) {
  return RunQuery(
      global, device, [](Client& c) { return c.Blocks(); },
      [](const std::vector<std::string>& users) {
        json items = json::array();
        for (const std::string& u : users) items.push_back({{"user_id", u}});
        return Items(items);
      });
}

}  // namespace courier::client::cli
