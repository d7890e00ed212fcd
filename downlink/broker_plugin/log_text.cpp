#include "downlink/broker_plugin/log_text.h"

namespace courier::broker {

std::string PrintableForLog(std::string_view text, size_t max_len) {
  bool cut = text.size() > max_len;
  if (cut) text = text.substr(0, max_len);
  std::string out;
  out.reserve(text.size() + 3);
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7F ? c : '?');
  }
  if (cut) out.append("...");
  return out;
}

}  // namespace courier::broker
