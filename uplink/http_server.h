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
  // An idle keep-alive connection (a new one too, before its first byte) holds a worker thread:
  // it is closed after this. Short, since every worker is one connection (docs/security.md).
  int keep_alive_timeout_s = 5;
  // Header fields of one request: more, or more bytes in all, get 413 before routing. The
  // library has read them by then (it bounds only each line, at 8 KiB): the bound keeps what a
  // handler sees sane; a reverse proxy bounds what is read (docs/security.md, Gaps).
  size_t max_header_fields = 100;
  size_t max_header_bytes = 32 * 1024;
  // Connections the kernel completes and queues before the server accepts them. Debian's
  // cpp-httplib is compiled with a backlog of 5, which drops SYNs in a burst of new connections
  // (each then waits a 1 s retransmit); Bind() listens again with this. The kernel caps it at
  // net.core.somaxconn.
  int listen_backlog = 4096;
  // The web chat page's directory, served under /web/ (uplink/static_files.h says which URLs
  // name which files); "/web" redirects there. "/" stays the API's 404, as every unknown path.
  // Empty: no page, those paths are 404 too.
  std::string web_root;
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
  // GET or HEAD of a file of the web page, from options_.web_root.
  void ServeWebFile(const httplib::Request& req, httplib::Response* res);
  void CountRequest(const std::string& method, const std::string& route, int status,
                    double seconds);

  HttpServerOptions options_;
  const Router* router_;
  MetricsRegistry* metrics_;
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  int listen_fd_ = -1;  // the listening socket, as the library's socket-options hook saw it
};

}  // namespace courier
