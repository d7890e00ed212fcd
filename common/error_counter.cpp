#include "common/error_counter.h"

namespace courier {

namespace {

std::string Labels(std::string_view op, Status::Code code) {
  return "op=\"" + std::string(op) + "\",code=\"" + std::string(CodeName(code)) + "\"";
}

}  // namespace

ErrorCounter::ErrorCounter(MetricsRegistry* metrics, std::string name, std::string help,
                           const std::vector<std::string>& ops,
                           const std::vector<Status::Code>& codes)
    : metrics_(metrics), name_(std::move(name)), help_(std::move(help)) {
  for (const std::string& op : ops) {
    for (Status::Code code : codes) {
      known_[{op, code}] = &metrics_->GetCounter(name_, help_, Labels(op, code));
    }
  }
}

Counter& ErrorCounter::Series(std::string_view op, Status::Code code) {
  auto it = known_.find(std::make_pair(std::string(op), code));
  if (it != known_.end()) return *it->second;
  return metrics_->GetCounter(name_, help_, Labels(op, code));
}

const Status& ErrorCounter::Count(std::string_view op, const Status& s, uint64_t n) {
  if (!s.ok() && n > 0) Series(op, s.code()).Inc(n);
  return s;
}

uint64_t ErrorCounter::Value(std::string_view op, Status::Code code) const {
  auto it = known_.find(std::make_pair(std::string(op), code));
  if (it != known_.end()) return it->second->value();
  return metrics_->GetCounter(name_, help_, Labels(op, code)).value();
}

}  // namespace courier
