// What every fuzz target of tests/fuzz shares: checking a property, and taking a fuzzer's bytes
// apart into the fields a target feeds its decoder.
//
// A property that fails aborts the process, so that libFuzzer reports it like a crash and keeps
// the input (crash-<sha1> in the artifact directory). An exception that escapes a decoder is
// reported the same way, with its what().
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

// Aborts with the failed condition and where it is when `cond` is false.
#define FUZZ_CHECK(cond)                                                     \
  do {                                                                       \
    if (!(cond)) ::courier::fuzz::PropertyFailed(#cond, __FILE__, __LINE__); \
  } while (false)

namespace courier::fuzz {

[[noreturn]] inline void PropertyFailed(const char* what, const char* file, int line) {
  std::fprintf(stderr, "fuzz property failed: %s (%s:%d)\n", what, file, line);
  std::abort();
}

// Runs `body` and turns an escaping exception into a reported failure: decoders of untrusted
// bytes promise a Status, never a throw.
template <typename Body>
void NoThrow(Body&& body) {
  try {
    body();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz property failed: exception escaped: %s\n", e.what());
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "fuzz property failed: non-standard exception escaped\n");
    std::abort();
  }
}

// The fuzzer's bytes as a sequence of fields. Targets that feed one decoder several strings take
// them as lines: the seed corpus stays readable text, and the last field (the rest) may still
// hold any byte, newlines included.
class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : rest_(reinterpret_cast<const char*>(data), size) {}

  bool empty() const { return rest_.empty(); }

  // The first byte (0 when there is none), consumed.
  uint8_t TakeByte() {
    if (rest_.empty()) return 0;
    auto b = static_cast<uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return b;
  }

  // Up to the next '\n' (consumed, not returned), or everything left.
  std::string_view TakeLine() {
    size_t nl = rest_.find('\n');
    std::string_view line = rest_.substr(0, nl);
    rest_.remove_prefix(nl == std::string_view::npos ? rest_.size() : nl + 1);
    return line;
  }

  // Everything left.
  std::string_view TakeRest() {
    std::string_view all = rest_;
    rest_ = {};
    return all;
  }

 private:
  std::string_view rest_;
};

}  // namespace courier::fuzz
