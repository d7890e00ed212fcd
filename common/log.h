// Logging: spdlog, one line per event with level and context, e.g.
//   2026-12-04T20:48:32.123 info  [uplink] send from=alice to=user:bob conv_seq=7
// Never log a password, token or secret.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace courier {

// Sets the default logger's pattern and level ("trace" … "error"); an unknown level is "info".
// Call once from main() before starting threads.
void InitLogging(const std::string& process, const std::string& level);

}  // namespace courier
