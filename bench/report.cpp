#include "bench/report.h"

#include <cstdio>

namespace courier::bench {

void Report::Add(const std::string& key, double value, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  Add(key, std::string(buf));
}

void Report::Print(std::ostream& out) const {
  for (const auto& [key, value] : lines_) out << key << ": " << value << "\n";
  if (!failures_.empty()) {
    std::string all;
    for (const std::string& f : failures_) all += (all.empty() ? "" : "; ") + f;
    out << "failures: " << all << "\n";
  }
  out << "ok: " << (ok() ? "true" : "false") << "\n\n";
  out.flush();
}

}  // namespace courier::bench
