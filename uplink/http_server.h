// The HTTP adapter: cpp-httplib in, Router out. The only file that knows the HTTP library.
//
// Thread-safety: Run() blocks the calling thread; Stop() may be called from any thread.
#pragma once

#include <memory>
#include <string>

#include "common/metrics.h"
#include "common/status.h"
#include "uplink/routes.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace courier {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  int threads = 16;
  size_t max_request_bytes = 256 * 1024;  // bigger requests get 413 before any parsing
  int read_timeout_s = 10;                // a slow client is dropped after this
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, const Router* router, MetricsRegistry* metrics);
  ~HttpServer();

  // Binds; Unavailable if the address is taken. Then Run() serves until Stop().
  Status Bind();
  int port() const { return port_; }
  void Run();
  void Stop();

 private:
  // Routes one request (its body read already) and records its metrics.
  void Serve(const httplib::Request& req, std::string body, httplib::Response* res);

  HttpServerOptions options_;
  const Router* router_;
  MetricsRegistry* metrics_;
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
};

}  // namespace courier
