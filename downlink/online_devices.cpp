#include "downlink/online_devices.h"

#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/device_reports.h"
#include "common/keys.h"
#include "common/log.h"

namespace courier {

OnlineDevices::OnlineDevices(const RedisConfig& redis, MetricsRegistry* metrics, const Clock* clock)
    : redis_(redis, 1),
      clock_(clock),
      devices_(metrics->GetGauge("courier_online_devices",
                                 "devices connected to the brokers, as the brokers report them")),
      brokers_(metrics->GetGauge("courier_brokers_reporting",
                                 "brokers whose count of connected devices is current")) {}

Status OnlineDevices::Sample() {
  Result<RedisValue> all = redis_.Command({"HGETALL", keys::BrokerDevices()});
  if (!all.ok()) return all.status();
  if (!all->is_array() || all->elements.size() % 2 != 0) {
    return Status::Internal("HGETALL " + keys::BrokerDevices() + ": not a field/value list");
  }
  std::vector<std::pair<std::string, std::string>> fields;
  fields.reserve(all->elements.size() / 2);
  for (size_t i = 0; i + 1 < all->elements.size(); i += 2) {
    fields.emplace_back(all->elements[i].str, all->elements[i + 1].str);
  }
  DeviceReportSum sum = SumDeviceReports(fields, clock_->NowMs());
  devices_.Set(sum.devices);
  brokers_.Set(sum.brokers);
  for (const auto& [broker, value] : sum.stale) {
    // Only if unchanged: the broker may have reported again since the read.
    Result<RedisValue> dropped = redis_.Eval(drop_stale_, {keys::BrokerDevices()}, {broker, value});
    if (!dropped.ok()) return dropped.status();
    if (dropped->integer == 1) spdlog::info("broker {} stopped reporting its devices", broker);
  }
  return Status::Ok();
}

void OnlineDevices::Run(const std::atomic<bool>& stopping) {
  using std::chrono::milliseconds;
  bool failing = false;
  while (!stopping) {
    Status s = Sample();
    if (!s.ok() && !failing) spdlog::warn("online devices: not sampled: {}", s.message());
    failing = !s.ok();
    const auto next = std::chrono::steady_clock::now() + milliseconds(kDeviceReportEveryMs);
    while (!stopping && std::chrono::steady_clock::now() < next) {
      std::this_thread::sleep_for(milliseconds(100));
    }
  }
}

}  // namespace courier
