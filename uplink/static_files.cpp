#include "uplink/static_files.h"

#include <array>
#include <utility>

namespace courier {

namespace {

constexpr size_t kMaxUrlPath = 256;

bool SegmentOk(std::string_view segment) {
  if (segment.empty() || segment.front() == '.') return false;  // also "." and ".."
  for (char c : segment) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

std::optional<std::string> WebFileFor(std::string_view url_path) {
  if (url_path.size() > kMaxUrlPath || !url_path.starts_with(kWebPrefix)) return std::nullopt;
  std::string_view rest = url_path.substr(kWebPrefix.size());
  std::string file(rest);
  if (rest.empty() || rest.back() == '/') file += "index.html";
  std::string_view check = file;
  while (!check.empty()) {
    size_t slash = check.find('/');
    std::string_view segment = check.substr(0, slash);
    if (!SegmentOk(segment)) return std::nullopt;
    if (slash == std::string_view::npos) break;
    check.remove_prefix(slash + 1);
    if (check.empty()) return std::nullopt;  // unreachable: a trailing '/' got index.html
  }
  return file;
}

std::string_view ContentTypeFor(std::string_view file) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 10> kTypes = {{
      {".html", "text/html; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
  }};
  for (const auto& [ext, type] : kTypes) {
    if (EndsWith(file, ext)) return type;
  }
  return "application/octet-stream";
}

}  // namespace courier
