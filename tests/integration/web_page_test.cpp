// The uplink serving the web chat page (docs/web.md) over real HTTP: the page's files with their
// Content-Type, the redirect to /web/, nothing outside the web root however the path is spelt,
// the API and its error answers unchanged beside it, and the login answer's ws_url.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/support/courier_api.h"
#include "tests/support/http_client.h"
#include "tests/support/test_stack.h"

namespace courier::testing {
namespace {

namespace fs = std::filesystem;

void WriteFile(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

// A web root with the page's files, a hidden file, and a secret beside the root.
struct WebRoot {
  WebRoot() {
    char pattern[] = "/tmp/courier-web-root-XXXXXX";
    REQUIRE(mkdtemp(pattern) != nullptr);
    dir = pattern;
    root = dir / "web";
    WriteFile(root / "index.html", "<!doctype html><title>Courier</title>");
    WriteFile(root / "app.js", "console.log('courier');");
    WriteFile(root / "style.css", "body { margin: 0; }");
    WriteFile(root / "img" / "index.html", "<p>img</p>");
    WriteFile(root / ".hidden", "hidden");
    WriteFile(dir / "secret.txt", "secret");
  }
  ~WebRoot() { fs::remove_all(dir); }

  fs::path dir;
  fs::path root;
};

TestStackOptions Options(std::vector<std::string> uplink_args) {
  TestStackOptions o;
  o.topology = Topology::kSingle;  // the subject is the uplink alone
  o.start_downlink = false;
  o.uplink_args = std::move(uplink_args);
  return o;
}

void CheckNotFound(const HttpResponse& r) {
  CHECK_MESSAGE(r.status == 404, r.Describe());
  CHECK_MESSAGE(r.error_code() == "not_found", r.Describe());
  CHECK(r.body.find("secret") == std::string::npos);
  CHECK(r.body.find("hidden") == std::string::npos);
}

// The raw request line, as a client may send it: HttpClient would not send some of these.
HttpResponse RawGet(int port, const std::string& target) {
  return RawHttpExchange(
      port, "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
}

}  // namespace

TEST_CASE("web page: the files under /web/, with their types; /web redirects there, / is 404") {
  WebRoot web;
  TestStack stack(
      Options({"--web-root", web.root.string(), "--mqtt-ws-url", "ws://127.0.0.1:9/mqtt"}));
  HttpClient http(stack.http_port());

  HttpResponse index = http.Get("/web/");
  CHECK_MESSAGE(index.status == 200, index.Describe());
  CHECK(index.body == "<!doctype html><title>Courier</title>");
  CHECK(index.header("Content-Type") == "text/html; charset=utf-8");
  CHECK(index.header("Cache-Control") == "no-cache");
  CHECK(index.header("X-Content-Type-Options") == "nosniff");
  CHECK(http.Get("/web/index.html").body == index.body);

  HttpResponse js = http.Get("/web/app.js");
  CHECK(js.status == 200);
  CHECK(js.header("Content-Type") == "text/javascript; charset=utf-8");
  CHECK(http.Get("/web/style.css").header("Content-Type") == "text/css; charset=utf-8");
  CHECK(http.Get("/web/img/").body == "<p>img</p>");

  HttpResponse to_page = RawGet(stack.http_port(), "/web");
  CHECK_MESSAGE(to_page.status == 302, to_page.Describe());
  CHECK(to_page.header("Location") == "/web/");
  // "/" is not the page's: the API's 404, as for any unknown path (api_errors_test).
  CheckNotFound(http.Get("/"));

  HttpResponse head =
      RawHttpExchange(stack.http_port(),
                      "HEAD /web/app.js HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  CHECK_MESSAGE(head.status == 200, head.Describe());
  CHECK(head.body.empty());

  // The login answer names the WebSocket the page connects to.
  Register(http, "alice");
  Login alice = LogIn(http, "alice", "web1", "web");
  CHECK(alice.mqtt["ws_url"] == "ws://127.0.0.1:9/mqtt");
}

TEST_CASE("web page: nothing outside the root or hidden, however the path is written") {
  WebRoot web;
  TestStack stack(Options({"--web-root", web.root.string()}));
  HttpClient http(stack.http_port());
  const std::vector<std::string> targets = {
      "/web/missing.js",
      "/web/.hidden",
      "/web/../secret.txt",
      "/web/%2e%2e/secret.txt",
      "/web/%2E%2E%2Fsecret.txt",
      "/web/img/../../secret.txt",
      "/web//secret.txt",
      "/web/..%5csecret.txt",
      "/web/./index.html",
      "/web/img",
      "/web/%00index.html",
      "/web/index.html%00.js",
      "/web/" + std::string(300, 'a'),
  };
  for (const std::string& target : targets) {
    CAPTURE(target);
    CheckNotFound(RawGet(stack.http_port(), target));
  }
  // Other methods on the page's paths are the API's: an unknown endpoint.
  HttpResponse post = http.Send("POST", "/web/index.html", "{}");
  CHECK_MESSAGE(post.status == 404, post.Describe());
  CHECK(post.error_code() == "not_found");
  // The API beside it is unchanged.
  CHECK(http.Get("/healthz").status == 200);
  HttpResponse unknown = http.Get("/v1/nothing");
  CHECK(unknown.status == 404);
  CHECK(unknown.json["error"]["message"] == "no such endpoint");
  CHECK(http.Get("/v1/messages").status == 405);
}

TEST_CASE("web page: --web-root off serves no page and names no WebSocket") {
  TestStack stack(Options({"--web-root", "off"}));
  HttpClient http(stack.http_port());
  for (const char* path : {"/", "/web", "/web/", "/web/index.html"}) {
    CAPTURE(path);
    HttpResponse r = http.Get(path);
    CHECK_MESSAGE(r.status == 404, r.Describe());
    CHECK(r.error_code() == "not_found");
  }
  Register(http, "bob");
  CHECK_FALSE(LogIn(http, "bob", "web1", "web").mqtt.contains("ws_url"));
}

}  // namespace courier::testing
