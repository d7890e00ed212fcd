#include "uplink/routes.h"

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "uplink/request_codec.h"

namespace courier {

namespace {

using nlohmann::json;

std::optional<std::string> QueryValue(const ApiRequest& req, const std::string& name) {
  auto it = req.query.find(name);
  if (it == req.query.end()) return std::nullopt;
  return it->second;
}

// The broker `user_id`'s devices connect to, as they reach it.
BrokerAddress AdvertisedBroker(const RouteDeps& deps, const std::string& user_id) {
  if (deps.brokers == nullptr) {
    return {deps.config->mqtt.public_host, deps.config->mqtt.public_port};
  }
  return deps.brokers->Current()->For(user_id).advertised;
}

json MqttBlock(const RouteDeps& deps, const std::string& user_id, const std::string& device_id,
               const std::string& token) {
  const std::string& root = deps.config->mqtt.topic_root;
  BrokerAddress broker = AdvertisedBroker(deps, user_id);
  json block = {
      {"host", broker.host},
      {"port", broker.port},
      {"client_id", user_id + ":" + device_id},
      {"username", user_id},
      {"password", token},
      {"topics",
       {{"inbox", root + "/u/" + user_id}, {"device", root + "/d/" + user_id + "/" + device_id}}}};
  // One WebSocket address for the deployment: with several brokers it could lead a browser to
  // a broker the user is not assigned to, so it is left out (docs/web.md).
  const std::string& ws_url = deps.config->mqtt.ws_url;
  if (!ws_url.empty() && (deps.brokers == nullptr || deps.brokers->Current()->size() == 1)) {
    block["ws_url"] = ws_url;
  }
  return block;
}

// The sync answer is assembled around the stored envelopes, which are already JSON.
std::string EncodeSyncPage(const SyncPage& page) {
  std::string out = R"({"epoch":)" + json(page.epoch).dump() + R"(,"items":[)";
  for (size_t i = 0; i < page.items.size(); ++i) {
    if (i > 0) out += ',';
    out += page.items[i];
  }
  out += R"(],"next_after":)" + std::to_string(page.next_after) + R"(,"has_more":)" +
         (page.has_more ? "true" : "false") + "}";
  return out;
}

}  // namespace

Router::Router(RouteDeps deps) : deps_(std::move(deps)) {
  AuthService* auth = deps_.auth;
  MessagingService* messaging = deps_.messaging;
  const Config* config = deps_.config;
  MetricsRegistry* metrics = deps_.metrics;
  Counter& accepted =
      metrics->GetCounter("courier_messages_accepted_total", "Messages accepted (201)");
  Counter& duplicates = metrics->GetCounter("courier_messages_duplicate_total",
                                            "Sends answered with an earlier message (200)");

  routes_ = {
      {"POST", "/v1/users", false,
       [auth](const ApiRequest& req, const Caller&) -> Result<ApiResponse> {
         auto r = ParseRegisterRequest(req.body);
         if (!r.ok()) return r.status();
         Status s = auth->Register(*r, req.remote_addr);
         if (!s.ok()) return s;
         return JsonResponse(201, json{{"user_id", r->user_id}}.dump());
       }},
      {"POST", "/v1/sessions", false,
       [this, auth](const ApiRequest& req, const Caller&) -> Result<ApiResponse> {
         auto r = ParseLoginRequest(req.body);
         if (!r.ok()) return r.status();
         auto l = auth->Login(*r, req.remote_addr);
         if (!l.ok()) return l.status();
         json body = {{"token", l->token},
                      {"expires_at", l->expires_at_ms},
                      {"user_id", l->user_id},
                      {"device_id", l->device_id},
                      {"mqtt", MqttBlock(deps_, l->user_id, l->device_id, l->token)}};
         return JsonResponse(200, body.dump());
       }},
      // Extension to SPEC §3 (docs/api.md): where the caller's device connects now, e.g. after
      // broker.moved or a refused CONNECT; the same block as the login answer's.
      {"GET", "/v1/mqtt", true,
       [this, auth](const ApiRequest& req, const Caller& caller) -> Result<ApiResponse> {
         if (Status s = auth->CheckSession(caller); !s.ok()) return s;
         auto token = ParseBearer(req.authorization);
         if (!token.ok()) return token.status();
         return JsonResponse(
             200, MqttBlock(deps_, caller.user_id, caller.device_id, std::string(*token)).dump());
       }},
      {"DELETE", "/v1/sessions/current", true,
       [auth](const ApiRequest&, const Caller& caller) -> Result<ApiResponse> {
         Status s = auth->Logout(caller);
         if (!s.ok()) return s;
         return NoContent();
       }},
      {"POST", "/v1/messages", true,
       [messaging, config, &accepted, &duplicates](const ApiRequest& req,
                                                   const Caller& caller) -> Result<ApiResponse> {
         auto r = ParseSendRequest(req.body, config->limits.max_body_bytes);
         if (!r.ok()) return r.status();
         auto sent = messaging->Send(caller, *r);
         if (!sent.ok()) return sent.status();
         (sent->duplicate ? duplicates : accepted).Inc();
         if (spdlog::should_log(spdlog::level::debug)) {  // spares the hot path FormatRecipient
           spdlog::debug("send {} from={} to={} conv={} conv_seq={}{}", sent->id, caller.user_id,
                         FormatRecipient(r->to), sent->conv, sent->conv_seq,
                         sent->duplicate ? " (duplicate)" : "");
         }
         json body = {{"id", sent->id},
                      {"conv", sent->conv},
                      {"conv_seq", sent->conv_seq},
                      {"ts", sent->ts}};
         return JsonResponse(sent->duplicate ? 200 : 201, body.dump());
       }},
      {"GET", "/v1/sync", true,
       [messaging, config](const ApiRequest& req, const Caller& caller) -> Result<ApiResponse> {
         auto q = ParseSyncQuery(QueryValue(req, "after"), QueryValue(req, "limit"),
                                 config->limits.sync_default_limit, config->limits.sync_max_limit);
         if (!q.ok()) return q.status();
         auto page = messaging->Sync(caller, *q);
         if (!page.ok()) return page.status();
         return JsonResponse(200, EncodeSyncPage(*page));
       }},
      {"POST", "/v1/acks", true,
       [messaging](const ApiRequest& req, const Caller& caller) -> Result<ApiResponse> {
         auto seq = ParseAckRequest(req.body);
         if (!seq.ok()) return seq.status();
         auto a = messaging->Ack(caller, *seq);
         if (!a.ok()) return a.status();
         return JsonResponse(200, json{{"latest_seq", a->latest_seq}, {"epoch", a->epoch}}.dump());
       }},
      {"GET", "/v1/conversations/{conv}/messages", true,
       [messaging, config](const ApiRequest& req, const Caller& caller) -> Result<ApiResponse> {
         auto q =
             ParseHistoryQuery(QueryValue(req, "before"), QueryValue(req, "limit"),
                               config->limits.sync_default_limit, config->limits.sync_max_limit);
         if (!q.ok()) return q.status();
         auto page = messaging->History(caller, req.path_params.at("conv"), *q);
         if (!page.ok()) return page.status();
         std::string body = R"({"items":[)";
         for (size_t i = 0; i < page->items.size(); ++i) {
           if (i > 0) body += ',';
           body += page->items[i];
         }
         body += R"(],"has_more":)" + std::string(page->has_more ? "true" : "false") + "}";
         return JsonResponse(200, std::move(body));
       }},
      {"GET", "/v1/presence", true,
       [messaging, config](const ApiRequest& req, const Caller& caller) -> Result<ApiResponse> {
         auto users =
             ParsePresenceQuery(QueryValue(req, "users"), config->limits.presence_max_users);
         if (!users.ok()) return users.status();
         auto p = messaging->Presence(caller, *users);
         if (!p.ok()) return p.status();
         json body = json::object();
         for (const auto& [user, state] : *p) {
           body[user] = {{"online", state.online},
                         {"last_seen", state.last_seen_ms > 0 ? json(state.last_seen_ms) : json()}};
         }
         return JsonResponse(200, body.dump());
       }},
      {"GET", "/healthz", false,
       [](const ApiRequest&, const Caller&) -> Result<ApiResponse> {
         return JsonResponse(200, R"({"status":"ok"})");
       }},
      {"GET", "/readyz", false,
       [this](const ApiRequest&, const Caller&) -> Result<ApiResponse> {
         Status s = deps_.readiness ? deps_.readiness() : Status::Ok();
         if (!s.ok()) return s;
         return JsonResponse(200, R"({"status":"ready"})");
       }},
      {"GET", "/metrics", false,
       [metrics](const ApiRequest&, const Caller&) -> Result<ApiResponse> {
         ApiResponse r = JsonResponse(200, metrics->Render());
         r.content_type = "text/plain; version=0.0.4";
         return r;
       }},
  };
  auto social = SocialRoutes(deps_);
  routes_.insert(routes_.end(), std::make_move_iterator(social.begin()),
                 std::make_move_iterator(social.end()));
}

bool Router::Match(const std::string& pattern, const std::string& path,
                   std::map<std::string, std::string>* params) {
  size_t p = 0, q = 0;
  while (p < pattern.size() && q < path.size()) {
    if (pattern[p] == '{') {
      size_t close = pattern.find('}', p);
      size_t end = path.find('/', q);
      if (end == std::string::npos) end = path.size();
      if (end == q) return false;  // an empty parameter
      (*params)[pattern.substr(p + 1, close - p - 1)] = path.substr(q, end - q);
      p = close + 1;
      q = end;
    } else if (pattern[p++] != path[q++]) {
      return false;
    }
  }
  return p == pattern.size() && q == path.size();
}

ApiResponse Router::Handle(ApiRequest& req, std::string* route) const {
  bool path_known = false;
  for (const Route& r : routes_) {
    std::map<std::string, std::string> params;
    if (!Match(r.pattern, req.path, &params)) continue;
    path_known = true;
    if (r.method != req.method) continue;
    *route = r.pattern;
    req.path_params = std::move(params);
    Caller caller;
    if (r.needs_auth) {
      auto c = deps_.auth->Authenticate(req.authorization);
      if (!c.ok()) return ErrorResponse(c.status());
      caller = std::move(*c);
      caller.request_id = req.request_id;
    }
    auto res = r.handler(req, caller);
    if (!res.ok()) return ErrorResponse(res.status());
    return std::move(*res);
  }
  *route = "unmatched";
  if (path_known) {
    return ErrorResponse(Status::MethodNotAllowed(req.method + " is not allowed on " + req.path));
  }
  return ErrorResponse(Status::NotFound("no such endpoint"));
}

}  // namespace courier
