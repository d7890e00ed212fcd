// The routes beyond one-to-one messaging (SPEC §3): groups, rooms, friends and blocks, the
// conversation list, read receipts, recall and signals. Same shape as routes.cpp: decode,
// call a service, encode.
#include <nlohmann/json.hpp>

#include "uplink/routes.h"

namespace courier {

namespace {

using nlohmann::json;

// A path parameter that must be a valid id (SPEC §2).
Result<std::string> PathId(const ApiRequest& req, const char* name) {
  const std::string& v = req.path_params.at(name);
  if (Status s = CheckId(name, v); !s.ok()) return s;
  return v;
}

std::optional<std::string> Query(const ApiRequest& req, const std::string& name) {
  auto it = req.query.find(name);
  if (it == req.query.end()) return std::nullopt;
  return it->second;
}

json GroupJson(const GroupInfo& g) {
  json members = json::array();
  for (const auto& m : g.members) members.push_back({{"user_id", m.user_id}, {"role", m.role}});
  return {{"group_id", g.group_id},
          {"name", g.name},
          {"owner", g.owner.empty() ? json() : json(g.owner)},
          {"members", std::move(members)},
          {"created_at", g.created_at_ms}};
}

ApiResponse GroupResponse(int status, const GroupInfo& g) {
  return JsonResponse(status, GroupJson(g).dump(-1, ' ', false, json::error_handler_t::replace));
}

Result<ApiResponse> Empty(Status s) {
  if (!s.ok()) return s;
  return NoContent();
}

}  // namespace

std::vector<Router::Route> Router::SocialRoutes(const RouteDeps& deps) {
  GroupService* groups = deps.groups;
  FriendService* friends = deps.friends;
  MessagingService* messaging = deps.messaging;
  const Config* config = deps.config;
  const Limits& limits = config->limits;

  return {
      // ---- Groups ----
      {"POST", "/v1/groups", true,
       [groups, &limits](const ApiRequest& req, const Caller& caller) -> Result<ApiResponse> {
         auto r = ParseCreateGroupRequest(req.body, limits.group_max_members);
         if (!r.ok()) return r.status();
         auto g = groups->Create(caller, *r);
         if (!g.ok()) return g.status();
         return GroupResponse(201, *g);
       }},
      {"GET", "/v1/groups/{gid}", true,
       [groups](const ApiRequest& req, const Caller& caller) -> Result<ApiResponse> {
         auto gid = PathId(req, "gid");
         if (!gid.ok()) return gid.status();
         auto g = groups->Get(caller, *gid);
         if (!g.ok()) return g.status();
         return GroupResponse(200, *g);
       }},
      {"POST", "/v1/groups/{gid}/members", true,
       [groups, &limits](const ApiRequest& req, const Caller& caller) -> Result<ApiResponse> {
         auto gid = PathId(req, "gid");
         if (!gid.ok()) return gid.status();
         auto users = ParseUserIdsRequest(req.body, limits.group_max_members);
         if (!users.ok()) return users.status();
         auto g = groups->AddMembers(caller, *gid, *users);
         if (!g.ok()) return g.status();
         return GroupResponse(200, *g);
       }},
      {"PATCH", "/v1/groups/{gid}/members/{uid}", true,
       [groups](const ApiRequest& req, const Caller& caller) -> Result<ApiResponse> {
         auto gid = PathId(req, "gid");
         if (!gid.ok()) return gid.status();
         auto uid = PathId(req, "uid");
         if (!uid.ok()) return uid.status();
         auto role = ParseRoleRequest(req.body);
         if (!role.ok()) return role.status();
         if (Status s = groups->SetRole(caller, *gid, *uid, *role); !s.ok()) return s;
         auto g = groups->Get(caller, *gid);
         if (!g.ok()) return g.status();
         return GroupResponse(200, *g);
       }},
      {"DELETE", "/v1/groups/{gid}/members/{uid}", true,
       [groups](const ApiRequest& req, const Caller& caller) -> Result<ApiResponse> {
         auto gid = PathId(req, "gid");
         if (!gid.ok()) return gid.status();
         auto uid = PathId(req, "uid");
         if (!uid.ok()) return uid.status();
         return Empty(groups->RemoveMember(caller, *gid, *uid));
       }},

      // ---- Rooms ----
      {"POST", "/v1/rooms/{rid}/join", true,
       [groups, config](const ApiRequest& req, const Caller& caller) -> Result<ApiResponse> {
         auto rid = PathId(req, "rid");
         if (!rid.ok()) return rid.status();
         if (Status s = groups->JoinRoom(caller, *rid); !s.ok()) return s;
         return JsonResponse(
             200,
             json{{"topic", config->mqtt.topic_root + "/r/" + *rid}, {"room_id", *rid}}.dump());
       }},
      {"POST", "/v1/rooms/{rid}/leave", true,
       [groups](const ApiRequest& req, const Caller& caller) -> Result<ApiResponse> {
         auto rid = PathId(req, "rid");
         if (!rid.ok()) return rid.status();
         return Empty(groups->LeaveRoom(caller, *rid));
       }},

      // ---- Friends and blocks ----
      {"POST", "/v1/friends/requests", true,
       [friends](const ApiRequest& req, const Caller& caller) -> Result<ApiResponse> {
         auto r = ParseFriendRequest(req.body);
         if (!r.ok()) return r.status();
         auto id = friends->Request(caller, *r);
         if (!id.ok()) return id.status();
         return JsonResponse(201, json{{"request_id", *id}}.dump());
       }},
      {"GET", "/v1/friends/requests", true,
       [friends](const ApiRequest&, const Caller& caller) -> Result<ApiResponse> {
         auto list = friends->Requests(caller);
         if (!list.ok()) return list.status();
         json items = json::array();
         for (const auto& r : *list) {
           items.push_back(
               {{"request_id", r.request_id}, {"from", r.from}, {"note", r.note}, {"ts", r.ts}});
         }
         return JsonResponse(
             200, json{{"items", items}}.dump(-1, ' ', false, json::error_handler_t::replace));
       }},
      {"POST", "/v1/friends/requests/{id}/accept", true,
       [friends](const ApiRequest& req, const Caller& caller) -> Result<ApiResponse> {
         auto id = PathId(req, "id");
         if (!id.ok()) return id.status();
         return Empty(friends->Answer(caller, *id, /*accept=*/true));
       }},
      {"POST", "/v1/friends/requests/{id}/reject", true,
       [friends](const ApiRequest& req, const Caller& caller) -> Result<ApiResponse> {
         auto id = PathId(req, "id");
         if (!id.ok()) return id.status();
         return Empty(friends->Answer(caller, *id, /*accept=*/false));
       }},
      {"GET", "/v1/friends", true,
       [friends](const ApiRequest&, const Caller& caller) -> Result<ApiResponse> {
         auto list = friends->Friends(caller);
         if (!list.ok()) return list.status();
         json items = json::array();
         for (const auto& f : *list)
           items.push_back({{"user_id", f.user_id}, {"since", f.since_ms}});
         return JsonResponse(200, json{{"items", items}}.dump());
       }},
      {"DELETE", "/v1/friends/{uid}", true,
       [friends](const ApiRequest& req, const Caller& caller) -> Result<ApiResponse> {
         auto uid = PathId(req, "uid");
         if (!uid.ok()) return uid.status();
         return Empty(friends->Remove(caller, *uid));
       }},
      {"POST", "/v1/blocks", true,
       [friends](const ApiRequest& req, const Caller& caller) -> Result<ApiResponse> {
         auto uid = ParseBlockRequest(req.body);
         if (!uid.ok()) return uid.status();
         return Empty(friends->SetBlocked(caller, *uid, true));
       }},
      {"GET", "/v1/blocks", true,
       [friends](const ApiRequest&, const Caller& caller) -> Result<ApiResponse> {
         auto list = friends->Blocks(caller);
         if (!list.ok()) return list.status();
         json items = json::array();
         for (const auto& u : *list) items.push_back({{"user_id", u}});
         return JsonResponse(200, json{{"items", items}}.dump());
       }},
      {"DELETE", "/v1/blocks/{uid}", true,
       [friends](const ApiRequest& req, const Caller& caller) -> Result<ApiResponse> {
         auto uid = PathId(req, "uid");
         if (!uid.ok()) return uid.status();
         return Empty(friends->SetBlocked(caller, *uid, false));
       }},

      // ---- Conversations, receipts, recall, signals ----
      {"GET", "/v1/conversations", true,
       [messaging, &limits](const ApiRequest& req, const Caller& caller) -> Result<ApiResponse> {
         auto limit =
             ParseLimitQuery(Query(req, "limit"), limits.sync_default_limit, limits.sync_max_limit);
         if (!limit.ok()) return limit.status();
         auto list = messaging->Conversations(caller, *limit);
         if (!list.ok()) return list.status();
         // `last` is stored JSON; splice it in as is.
         std::string body = R"({"items":[)";
         for (size_t i = 0; i < list->size(); ++i) {
           const auto& c = (*list)[i];
           if (i > 0) body += ',';
           body += R"({"conv":)" + json(c.conv).dump() + R"(,"last":)" + c.last + R"(,"unread":)" +
                   std::to_string(c.unread) + "}";
         }
         body += "]}";
         return JsonResponse(200, std::move(body));
       }},
      {"POST", "/v1/conversations/{conv}/read", true,
       [messaging](const ApiRequest& req, const Caller& caller) -> Result<ApiResponse> {
         auto conv_seq = ParseReadRequest(req.body);
         if (!conv_seq.ok()) return conv_seq.status();
         return Empty(messaging->MarkRead(caller, req.path_params.at("conv"), *conv_seq));
       }},
      {"DELETE", "/v1/messages/{id}", true,
       [messaging](const ApiRequest& req, const Caller& caller) -> Result<ApiResponse> {
         auto id = PathId(req, "id");
         if (!id.ok()) return id.status();
         return Empty(messaging->Recall(caller, *id));
       }},
      {"POST", "/v1/signals", true,
       [messaging](const ApiRequest& req, const Caller& caller) -> Result<ApiResponse> {
         auto r = ParseSignalRequest(req.body);
         if (!r.ok()) return r.status();
         if (Status s = messaging->Signal(caller, *r); !s.ok()) return s;
         return JsonResponse(202, R"({"status":"accepted"})");
       }},
  };
}

}  // namespace courier
