#include "common/log.h"

#include <spdlog/pattern_formatter.h>

#include <memory>

namespace courier {

namespace {

thread_local std::string current_request_id;

// %* in a text pattern: "req=<id> " inside a request, nothing outside.
class TextRequestIdFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    if (current_request_id.empty()) return;
    dest.append(std::string_view("req="));
    dest.append(current_request_id);
    dest.push_back(' ');
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<TextRequestIdFlag>();
  }
};

// %* in a JSON pattern: `,"req":"<id>"` inside a request, nothing outside. The id is checked
// by whoever set it (safe characters only), so it needs no escaping.
class JsonRequestIdFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    if (current_request_id.empty()) return;
    dest.append(std::string_view(",\"req\":\""));
    dest.append(JsonEscape(current_request_id));
    dest.push_back('"');
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonRequestIdFlag>();
  }
};

// %& in a JSON pattern: the message, escaped for a JSON string.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    dest.append(JsonEscape(std::string_view(msg.payload.data(), msg.payload.size())));
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

}  // namespace

std::string JsonEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static const char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[(c >> 4) & 0xf];
          out += kHex[c & 0xf];
        } else {
          out += c;
        }
    }
  }
  return out;
}

void InitLogging(const std::string& process, const std::string& level, const std::string& format) {
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  if (format == "json") {
    // Levels and process names need no escaping; the message does (%&).
    formatter->add_flag<JsonRequestIdFlag>('*');
    formatter->add_flag<JsonMessageFlag>('&');
    formatter->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%e","level":"%l","process":")" + process +
                           R"("%*,"msg":"%&"})");
  } else {
    formatter->add_flag<TextRequestIdFlag>('*');
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%e %-5l [" + process + "] %*%v");
  }
  spdlog::set_formatter(std::move(formatter));
  auto lvl = spdlog::level::from_str(level);
  spdlog::set_level(lvl == spdlog::level::off && level != "off" ? spdlog::level::info : lvl);
  spdlog::flush_on(spdlog::level::info);
}

LogRequestScope::LogRequestScope(std::string_view request_id)
    : previous_(std::exchange(current_request_id, std::string(request_id))) {}

LogRequestScope::~LogRequestScope() { current_request_id = std::move(previous_); }

const std::string& CurrentLogRequestId() { return current_request_id; }

}  // namespace courier
