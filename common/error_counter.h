// ErrorCounter: counts the failures of one dependency (Redis, the MQTT broker) as a Prometheus
// counter family `<name>{op="<op>",code="<code>"}`, where `op` says what was being done
// ("connect", "command", ...) and `code` is the failure's Status code name ("unavailable",
// "internal": the error policy of common/status.h). The adapters that talk to the dependency
// count the Status they return, in one place each, so every failure a caller sees is counted
// once, whichever module made the call.
//
// Thread-safety: thread-safe; counting is a lock-free increment for the ops and codes named at
// construction (their series exist from the start, at 0), and takes the registry's mutex for any
// other pair.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/metrics.h"
#include "common/status.h"

namespace courier {

class ErrorCounter {
 public:
  // `metrics` must outlive the counter. `ops` and `codes`: the pairs registered up front.
  ErrorCounter(MetricsRegistry* metrics, std::string name, std::string help,
               const std::vector<std::string>& ops, const std::vector<Status::Code>& codes);
  ErrorCounter(const ErrorCounter&) = delete;
  ErrorCounter& operator=(const ErrorCounter&) = delete;

  // Adds `n` to the series of (`op`, s.code()) unless `s` is OK. Returns `s`, so that an adapter
  // can write `return errors->Count("command", s);`.
  const Status& Count(std::string_view op, const Status& s, uint64_t n = 1);

  // The current value of a series (0 if it was never counted), for tests.
  uint64_t Value(std::string_view op, Status::Code code) const;

 private:
  Counter& Series(std::string_view op, Status::Code code);

  MetricsRegistry* metrics_;
  const std::string name_;
  const std::string help_;
  // Filled in the constructor, read-only after: no lock needed.
  std::map<std::pair<std::string, Status::Code>, Counter*, std::less<>> known_;
};

}  // namespace courier
