// The route table of the HTTP API: every endpoint as one row (method, path pattern, whether a
// bearer token is required, handler), and the dispatcher over it. Handlers are thin: decode
// (request_codec.h), call a service, encode the answer; any error Status becomes a reply in
// ErrorResponse() alone.
//
// Thread-safety: immutable after construction; Handle() may run on many threads at once.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/broker_list.h"
#include "common/config.h"
#include "common/metrics.h"
#include "uplink/api.h"
#include "uplink/auth_service.h"
#include "uplink/friend_service.h"
#include "uplink/group_service.h"
#include "uplink/messaging_service.h"

namespace courier {

struct RouteDeps {
  AuthService* auth = nullptr;
  MessagingService* messaging = nullptr;
  MetricsRegistry* metrics = nullptr;
  const Config* config = nullptr;
  // OK when Redis and the broker are reachable (GET /readyz).
  std::function<Status()> readiness;
  GroupService* groups = nullptr;
  FriendService* friends = nullptr;
  // The brokers, for the `mqtt` block (login, GET /v1/mqtt). nullptr: config->mqtt's single
  // public broker.
  const ReloadableBrokerList* brokers = nullptr;
};

class Router {
 public:
  explicit Router(RouteDeps deps);

  // Dispatches `req` (its path_params are filled in). `route` receives the matched pattern,
  // e.g. "/v1/messages", or "unmatched" — a bounded label for metrics.
  ApiResponse Handle(ApiRequest& req, std::string* route) const;

 private:
  using Handler = std::function<Result<ApiResponse>(const ApiRequest&, const Caller&)>;
  struct Route {
    std::string method;
    std::string pattern;  // segments in braces are parameters: /v1/groups/{gid}
    bool needs_auth;
    Handler handler;
  };
  // The routes of groups, rooms, friends, blocks, conversations, recall and signals
  // (routes_social.cpp).
  static std::vector<Route> SocialRoutes(const RouteDeps& deps);
  static bool Match(const std::string& pattern, const std::string& path,
                    std::map<std::string, std::string>* params);

  RouteDeps deps_;
  std::vector<Route> routes_;
};

}  // namespace courier
