// The web chat page (web/ in the source tree, assembled into <build>/web by the build): which file
// under the web root a URL names, and the Content-Type it is served with. Pure: nothing here
// opens a file; http_server.cpp reads the file WebFileFor names.
//
// Thread-safety: free functions over their arguments only.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace courier {

// Every file of the page lives under this URL prefix; "/web" redirects to it.
inline constexpr std::string_view kWebPrefix = "/web/";

// The path, relative to the web root, of the file `url_path` names: "/web/" -> "index.html",
// "/web/app.js" -> "app.js", "/web/img/" -> "img/index.html". nullopt (the caller answers 404)
// for a path outside kWebPrefix, and for any path that could leave the root or reach what is not
// the page: a segment that is empty, "." or "..", or starts with '.' (hidden files), a byte
// outside [A-Za-z0-9._-] in a segment (so no backslash, NUL, '%' or ':'), or a path over 256
// bytes. The check holds for `url_path` as received and as cpp-httplib percent-decodes it (what
// http_server.cpp passes): a decoded ".." or '/' is judged like a literal one.
std::optional<std::string> WebFileFor(std::string_view url_path);

// The Content-Type of a file by its extension: HTML, CSS and JavaScript (UTF-8), JSON, SVG,
// PNG, ICO, source maps; "application/octet-stream" for anything else.
std::string_view ContentTypeFor(std::string_view file);

}  // namespace courier
