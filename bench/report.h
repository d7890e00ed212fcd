// Report: a scenario's figures as one block of `key: value` lines, in the order they were
// added — what scripts/bench parses (scripts/lib/bench_report.py).
//
// Thread-safety: none; built by the scenario's thread.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace courier::bench {

class Report {
 public:
  void Add(const std::string& key, const std::string& value) { lines_.emplace_back(key, value); }
  void Add(const std::string& key, const char* value) { Add(key, std::string(value)); }
  void Add(const std::string& key, int64_t value) { Add(key, std::to_string(value)); }
  void Add(const std::string& key, int value) { Add(key, std::to_string(value)); }
  void Add(const std::string& key, size_t value) { Add(key, std::to_string(value)); }
  void Add(const std::string& key, bool value) { Add(key, std::string(value ? "true" : "false")); }
  // Fixed-point with `decimals` places.
  void Add(const std::string& key, double value, int decimals = 2);

  // A failure that makes the run fail (exit 1), with why; the block says `ok: false`.
  void Fail(const std::string& why) { failures_.push_back(why); }
  bool ok() const { return failures_.empty(); }

  // The block, ending with `failures:` (if any) and `ok:`, then a blank line.
  void Print(std::ostream& out) const;

 private:
  std::vector<std::pair<std::string, std::string>> lines_;
  std::vector<std::string> failures_;
};

}  // namespace courier::bench
