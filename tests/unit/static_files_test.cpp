// The web page's URL-to-file mapping: what it serves, and every way a path could leave the root.
#include <doctest/doctest.h>

#include "uplink/static_files.h"

namespace courier::testing {

TEST_CASE("web files: the page's URLs name files under the root") {
  CHECK(WebFileFor("/web/") == "index.html");
  CHECK(WebFileFor("/web/index.html") == "index.html");
  CHECK(WebFileFor("/web/app.js") == "app.js");
  CHECK(WebFileFor("/web/style.css") == "style.css");
  CHECK(WebFileFor("/web/img/logo-2.svg") == "img/logo-2.svg");
  CHECK(WebFileFor("/web/img/") == "img/index.html");
  CHECK(WebFileFor("/web/app.js.map") == "app.js.map");
}

TEST_CASE("web files: nothing outside the root, nothing hidden") {
  for (const char* bad : {
           "/",
           "/web",
           "/v1/users",
           "/webx/app.js",
           "web/app.js",
           "",
           "/web/../uplink/main.cpp",
           "/web/..",
           "/web/.",
           "/web/./app.js",
           "/web/a/../../x",
           "/web//etc/passwd",
           "/web/a//b",
           "/web/.git/config",
           "/web/.env",
           "/web/%2e%2e/secret",
           "/web/..%2fsecret",
           "/web/a\\..\\b",
           "/web/c:/x",
           "/web/app.js?x",
           "/web/a b",
           "/web/\xc3\xa9.html",
       }) {
    CAPTURE(bad);
    CHECK_FALSE(WebFileFor(bad).has_value());
  }
  CHECK_FALSE(WebFileFor(std::string_view("/web/a\0b", 8)).has_value());
  CHECK_FALSE(WebFileFor("/web/" + std::string(300, 'a')).has_value());
}

TEST_CASE("web files: content types") {
  CHECK(ContentTypeFor("index.html") == "text/html; charset=utf-8");
  CHECK(ContentTypeFor("app.js") == "text/javascript; charset=utf-8");
  CHECK(ContentTypeFor("style.css") == "text/css; charset=utf-8");
  CHECK(ContentTypeFor("app.js.map") == "application/json");
  CHECK(ContentTypeFor("logo.svg") == "image/svg+xml");
  CHECK(ContentTypeFor("shot.png") == "image/png");
  CHECK(ContentTypeFor("README") == "application/octet-stream");
  CHECK(ContentTypeFor("html") == "application/octet-stream");
}

}  // namespace courier::testing
