// The HTTP API as plain values, independent of the HTTP library: a request in, a response out.
// The route table (routes.h) maps requests to handlers; http_server.cpp is the only file that
// knows cpp-httplib. This keeps every handler testable on plain structs.
#pragma once

#include <map>
#include <string>

#include "common/status.h"

namespace courier {

struct ApiRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query string
  std::multimap<std::string, std::string> query;
  std::string authorization;  // the Authorization header, or empty
  std::string body;
  std::string remote_addr;
  std::string request_id;                          // uplink/request_id.h; never empty in use
  std::map<std::string, std::string> path_params;  // filled by the router
};

struct ApiResponse {
  int status = 200;
  std::string body;  // JSON, Prometheus text, or empty for 204
  std::string content_type = "application/json";
  std::map<std::string, std::string> headers;
};

// The single place where an error becomes an HTTP reply (SPEC §3 error model):
// {"error": {"code": "<snake_case>", "message": "<human text>"}} with the fitting status,
// plus Retry-After for 429 and 503.
ApiResponse ErrorResponse(const Status& status);
int HttpStatusOf(Status::Code code);

// 200/201 with a JSON body.
ApiResponse JsonResponse(int status, std::string body);
// 204.
ApiResponse NoContent();

}  // namespace courier
