// OnlineDevices: how many devices are connected across the brokers, as the gauges
//   courier_online_devices        devices connected to the brokers that reported lately
//   courier_brokers_reporting     brokers whose report is still valid
// read from the reports the broker plugins write (common/device_reports.h). Every downlink shows
// the deployment's figures (not its own share): take one, or the max over downlinks, never the
// sum. Sampling deletes the reports that expired, if no newer one replaced them meanwhile.
//
// Thread-safety: Sample() from one thread at a time (the downlink runs it on a thread of its own).
#pragma once

#include <atomic>
#include <cstdint>

#include "common/clock.h"
#include "common/metrics.h"
#include "common/redis_client.h"

namespace courier {

class OnlineDevices {
 public:
  // `metrics` and `clock` must outlive this.
  OnlineDevices(const RedisConfig& redis, MetricsRegistry* metrics, const Clock* clock);
  OnlineDevices(const OnlineDevices&) = delete;
  OnlineDevices& operator=(const OnlineDevices&) = delete;

  // Reads the reports and sets the gauges. On a failure (counted with the other Redis errors)
  // the gauges keep their last figures.
  Status Sample();

  // Samples every kDeviceReportEveryMs until `stopping`, waking at least every 100 ms to see it.
  void Run(const std::atomic<bool>& stopping);

 private:
  RedisPool redis_;
  const Clock* clock_;
  const RedisScript drop_stale_{"drop_stale_field"};
  Gauge& devices_;
  Gauge& brokers_;
};

}  // namespace courier
