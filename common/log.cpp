#include "common/log.h"

namespace courier {

void InitLogging(const std::string& process, const std::string& level) {
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %-5l [" + process + "] %v");
  auto lvl = spdlog::level::from_str(level);
  spdlog::set_level(lvl == spdlog::level::off && level != "off" ? spdlog::level::info : lvl);
  spdlog::flush_on(spdlog::level::info);
}

}  // namespace courier
