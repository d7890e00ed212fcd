#include "common/device_reports.h"

#include <charconv>

namespace courier {

namespace {

// Parses "<devices> <valid until ms>": two non-negative integers and nothing else.
bool DecodeDeviceReport(const std::string& value, int64_t* devices, int64_t* valid_until_ms) {
  const char* begin = value.data();
  const char* end = begin + value.size();
  auto [p, ec] = std::from_chars(begin, end, *devices);
  if (ec != std::errc() || p == end || *p != ' ' || *devices < 0) return false;
  auto [q, ec2] = std::from_chars(p + 1, end, *valid_until_ms);
  return ec2 == std::errc() && q == end && *valid_until_ms >= 0;
}

}  // namespace

std::string EncodeDeviceReport(int64_t devices, int64_t valid_until_ms) {
  return std::to_string(devices) + " " + std::to_string(valid_until_ms);
}

DeviceReportSum SumDeviceReports(const std::vector<std::pair<std::string, std::string>>& fields,
                                 int64_t now_ms) {
  DeviceReportSum sum;
  for (const auto& [broker, value] : fields) {
    int64_t devices = 0, valid_until_ms = 0;
    if (!DecodeDeviceReport(value, &devices, &valid_until_ms) || valid_until_ms <= now_ms) {
      sum.stale.emplace_back(broker, value);
      continue;
    }
    sum.devices += devices;
    ++sum.brokers;
  }
  return sum;
}

}  // namespace courier
