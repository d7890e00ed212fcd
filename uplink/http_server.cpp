#include "uplink/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "common/log.h"
#include "common/process_setup.h"
#include "uplink/request_id.h"
#include "uplink/static_files.h"

namespace courier {

namespace {

constexpr const char* kRequestIdHeader = "X-Request-Id";

ApiRequest ToApiRequest(const httplib::Request& in) {
  ApiRequest out;
  out.method = in.method;
  out.path = in.path;
  for (const auto& [k, v] : in.params) out.query.emplace(k, v);
  out.authorization = in.get_header_value("Authorization");
  out.remote_addr = in.remote_addr;
  return out;
}

void WriteResponse(const ApiResponse& in, httplib::Response* out) {
  out->status = in.status;
  for (const auto& [k, v] : in.headers) out->set_header(k, v);
  if (!in.content_type.empty()) out->set_content(in.body, in.content_type.c_str());
}

// httplib answers some requests itself (payload too large, unreadable request): give those
// the same error body as every other error.
Status StatusForLibraryError(int http_status) {
  switch (http_status) {
    case 413:
      return Status::TooLarge("request too large");
    case 414:
      return Status::TooLarge("request URI too long");
    case 404:
      return Status::NotFound("no such endpoint");
    case 400:
      return Status::InvalidJson("malformed HTTP request");
    default:
      return Status::Internal("HTTP error " + std::to_string(http_status));
  }
}

// The page's files are small (the largest, the bundled script, is a few hundred KiB).
constexpr uintmax_t kMaxWebFileBytes = 8 * 1024 * 1024;

}  // namespace

HttpServer::HttpServer(HttpServerOptions options, const Router* router, MetricsRegistry* metrics)
    : options_(std::move(options)),
      router_(router),
      metrics_(metrics),
      server_(std::make_unique<httplib::Server>()) {
  int threads = options_.threads;
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // Nagle's algorithm plus delayed ACKs adds ~40 ms to every keep-alive request.
  server_->set_tcp_nodelay(true);
  // A port in use is an error, not a port shared with whoever has it.
  server_->set_socket_options([this](socket_t fd) {
    SetListenSocketOptions(fd);
    listen_fd_ = fd;
  });
  server_->set_keep_alive_max_count(1000000);
  server_->set_keep_alive_timeout(options_.keep_alive_timeout_s);
  server_->set_read_timeout(options_.read_timeout_s, 0);
  server_->set_write_timeout(options_.read_timeout_s, 0);
  server_->set_payload_max_length(options_.max_request_bytes);
  server_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    // Every answer from here on carries the request's id, errors of the library included; the
    // handlers read it back from the response.
    res.set_header(kRequestIdHeader, RequestIdFor(req.get_header_value(kRequestIdHeader)));
    size_t bytes = 0;
    for (const auto& [name, value] : req.headers) bytes += name.size() + value.size();
    if (req.headers.size() <= options_.max_header_fields && bytes <= options_.max_header_bytes) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    WriteResponse(ErrorResponse(Status::TooLarge("too many or too large header fields")), &res);
    res.set_header("Connection", "close");  // the body, if any, was not read
    return httplib::Server::HandlerResponse::Handled;
  });

  // Requests with a body are read through a ContentReader: httplib would otherwise parse
  // form-encoded bodies itself (curl -d sends that content type) and refuse those over 8 KiB.
  // A request without Content-Length or chunking has no body: nothing is read.
  auto handle_with_body = [this](const httplib::Request& req, httplib::Response& res,
                                 const httplib::ContentReader& reader) {
    std::string body;
    bool too_large = false;
    std::string length_header = req.get_header_value("Content-Length");
    if (!length_header.empty()) {
      size_t length = 0;
      auto [end, ec] = std::from_chars(length_header.data(),
                                       length_header.data() + length_header.size(), length);
      if (ec != std::errc() || end != length_header.data() + length_header.size()) {
        WriteResponse(ErrorResponse(Status::InvalidJson("malformed Content-Length")), &res);
        res.set_header("Connection", "close");  // the body was not read
        return;
      }
      too_large = length > options_.max_request_bytes;
    }
    bool chunked = req.get_header_value("Transfer-Encoding") == "chunked";
    if (!too_large && (!length_header.empty() || chunked)) {
      bool complete = reader([&](const char* data, size_t len) {
        if (body.size() + len > options_.max_request_bytes) {
          too_large = true;
          return false;
        }
        body.append(data, len);
        return true;
      });
      if (!complete && !too_large) return;  // the client went away mid-body
    }
    if (too_large) {
      WriteResponse(ErrorResponse(Status::TooLarge("request too large")), &res);
      res.set_header("Connection", "close");  // the rest of the body was not read
      return;
    }
    Serve(req, std::move(body), &res);
  };
  auto handle = [this](const httplib::Request& req, httplib::Response& res) {
    Serve(req, req.body, &res);
  };
  // The web page first (handlers match in the order they are added), then the API.
  if (!options_.web_root.empty()) {
    auto to_page = [](const httplib::Request&, httplib::Response& res) {
      res.set_redirect(std::string(kWebPrefix), 302);
    };
    server_->Get("/web", to_page);
    server_->Get(R"(/web/[\s\S]*)", [this](const httplib::Request& req, httplib::Response& res) {
      ServeWebFile(req, &res);
    });
  }
  // Every path, newlines included ("." would not match one), goes to the router, which
  // answers a bad id in a path with 400.
  const std::string any = R"([\s\S]*)";
  server_->Get(any, handle);
  server_->Options(any, handle);
  server_->Post(any, handle_with_body);
  server_->Put(any, handle_with_body);
  server_->Patch(any, handle_with_body);
  server_->Delete(any, handle_with_body);
  server_->set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    WriteResponse(ErrorResponse(StatusForLibraryError(res.status)), &res);
  });
  server_->set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        spdlog::error("http {} {}: uncaught exception: {}", req.method, req.path, what);
        WriteResponse(ErrorResponse(Status::Internal("internal error")), &res);
      });
}

HttpServer::~HttpServer() = default;

void HttpServer::Serve(const httplib::Request& req, std::string body, httplib::Response* res) {
  auto start = std::chrono::steady_clock::now();
  ApiRequest api = ToApiRequest(req);
  api.body = std::move(body);
  api.request_id = res->get_header_value(kRequestIdHeader);
  if (api.request_id.empty()) {  // the pre-routing handler always sets it; never trust that
    api.request_id = NewRequestId();
    res->set_header(kRequestIdHeader, api.request_id);
  }
  LogRequestScope log_scope(api.request_id);
  std::string route;
  ApiResponse out = router_->Handle(api, &route);
  WriteResponse(out, res);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  spdlog::debug("http {} {} -> {} in {:.3f} ms", req.method, route, out.status, seconds * 1000);
  CountRequest(req.method, route, out.status, seconds);
  if (out.status >= 500)
    spdlog::warn("http {} {} -> {} {}", req.method, route, out.status, out.body);
}

void HttpServer::CountRequest(const std::string& method, const std::string& route, int status,
                              double seconds) {
  std::string labels = "method=\"" + method + "\",route=\"" + route + "\"";
  metrics_
      ->GetCounter("courier_http_requests_total", "HTTP requests by route and status",
                   labels + ",status=\"" + std::to_string(status) + "\"")
      .Inc();
  metrics_
      ->GetHistogram("courier_http_request_duration_seconds", "HTTP request latency by route",
                     labels)
      .Observe(seconds);
}

void HttpServer::ServeWebFile(const httplib::Request& req, httplib::Response* res) {
  auto start = std::chrono::steady_clock::now();
  std::optional<std::string> file = WebFileFor(req.path);
  std::string content;
  bool found = false;
  if (file) {
    std::filesystem::path path = std::filesystem::path(options_.web_root) / *file;
    std::error_code ec;
    if (std::filesystem::is_regular_file(path, ec) &&
        std::filesystem::file_size(path, ec) <= kMaxWebFileBytes && !ec) {
      std::ifstream in(path, std::ios::binary);
      content.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      found = !in.bad();
    }
  }
  if (found) {
    res->status = 200;
    // Revalidated on every load, so a rebuilt page is never mixed with a cached one.
    res->set_header("Cache-Control", "no-cache");
    res->set_header("X-Content-Type-Options", "nosniff");
    res->set_content(content, std::string(ContentTypeFor(*file)));
  } else {
    WriteResponse(ErrorResponse(Status::NotFound("no such file")), res);
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CountRequest(req.method, std::string(kWebPrefix), res->status, seconds);
}

Status HttpServer::Bind() {
  if (options_.port == 0) {
    port_ = server_->bind_to_any_port(options_.host);
    if (port_ <= 0) return Status::Unavailable("cannot bind " + options_.host);
  } else {
    if (!server_->bind_to_port(options_.host, options_.port)) {
      return Status::Unavailable("cannot bind " + options_.host + ":" +
                                 std::to_string(options_.port));
    }
    port_ = options_.port;
  }
  // The library has listened with its compiled-in backlog; listening again sets ours.
  if (listen_fd_ < 0 || listen(listen_fd_, options_.listen_backlog) != 0) {
    spdlog::warn("cannot set the listen backlog to {}; bursts of new connections may wait",
                 options_.listen_backlog);
  }
  return Status::Ok();
}

void HttpServer::Run() { server_->listen_after_bind(); }

void HttpServer::Stop() { server_->stop(); }

}  // namespace courier
