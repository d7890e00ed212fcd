// How many devices are connected across the brokers: each broker's plugin reports its own count
// now and then into one Redis hash (keys::BrokerDevices()), with how long the report stays
// valid; a downlink sums the valid reports into the courier_online_devices gauge. A broker that
// stops reporting (stopped, crashed, cut off from Redis) drops out once its last report expires,
// and its field is removed then, so the hash holds about one field per running broker.
//
// Pure encoding and arithmetic, no Redis; thread-safe (free functions over their arguments).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace courier {

// How often a broker reports, and how long a report stays valid: three reports, so that one
// slow or failed write does not make a live broker's devices vanish from the sum.
constexpr int64_t kDeviceReportEveryMs = 5000;
constexpr int64_t kDeviceReportValidMs = 3 * kDeviceReportEveryMs;

// The hash value of a report: "<devices> <valid until ms>".
std::string EncodeDeviceReport(int64_t devices, int64_t valid_until_ms);

// The hash's fields (broker -> value) summed at `now_ms`.
struct DeviceReportSum {
  int64_t devices = 0;  // over the valid reports
  int brokers = 0;      // valid reports
  // Fields whose report expired or cannot be read, with the value seen: the reader may delete
  // each, if its value is still the one seen (the broker may have reported again since).
  std::vector<std::pair<std::string, std::string>> stale;
};
DeviceReportSum SumDeviceReports(const std::vector<std::pair<std::string, std::string>>& fields,
                                 int64_t now_ms);

}  // namespace courier
