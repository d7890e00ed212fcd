// Observability without servers: request ids (uplink/request_id.h), the log line's request id
// and JSON escaping (common/log.h), the error counters (common/error_counter.h), the backlog
// gauges (downlink/queue_backlog.h) and the Prometheus text the registry renders.
#include <doctest/doctest.h>

#include <spdlog/sinks/ostream_sink.h>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/device_reports.h"
#include "common/error_counter.h"
#include "common/log.h"
#include "common/metrics.h"
#include "downlink/queue_backlog.h"
#include "uplink/request_id.h"

namespace courier {

TEST_CASE("a request id is kept when sane, replaced otherwise") {
  CHECK(IsSaneRequestId("9f86d081884c7d65"));
  CHECK(IsSaneRequestId("123e4567-e89b-12d3-a456-426614174000"));
  CHECK(IsSaneRequestId("01HGW2N7EXAMPLE.trace:span_1"));
  CHECK(IsSaneRequestId(std::string(kMaxRequestIdLength, 'a')));
  CHECK_FALSE(IsSaneRequestId(""));
  CHECK_FALSE(IsSaneRequestId(std::string(kMaxRequestIdLength + 1, 'a')));
  for (const std::string& bad :
       std::vector<std::string>{"a b", "a\"b", "a\nb", "a\rb", "a{b}", "a/b", "a\\b", "é", "a,b",
                                "a;b", "a=b", std::string("a\0b", 3)}) {
    INFO(bad);
    CHECK_FALSE(IsSaneRequestId(bad));
  }
  CHECK(RequestIdFor("client-7") == "client-7");
  std::string made = RequestIdFor("bad id");
  CHECK(made.size() == 16);
  CHECK(IsSaneRequestId(made));
  CHECK(RequestIdFor("") != RequestIdFor(""));
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(NewRequestId());
  CHECK(seen.size() == 1000);
}

TEST_CASE("log lines carry the request id of the scope, in text and in JSON") {
  std::ostringstream text;
  auto saved = spdlog::default_logger();
  auto logger = std::make_shared<spdlog::logger>(
      "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(text));
  spdlog::set_default_logger(logger);

  InitLogging("uplink", "debug", "text");
  spdlog::info("outside");
  {
    LogRequestScope scope("req-1");
    CHECK(CurrentLogRequestId() == "req-1");
    spdlog::info("inside");
    {
      LogRequestScope inner("");
      spdlog::info("inner");
    }
    spdlog::info("again");
  }
  CHECK(CurrentLogRequestId().empty());
  std::thread([] { spdlog::info("other thread"); }).join();
  std::string out = text.str();
  CHECK(out.find("[uplink] outside") != std::string::npos);
  CHECK(out.find("[uplink] req=req-1 inside") != std::string::npos);
  CHECK(out.find("[uplink] inner") != std::string::npos);
  CHECK(out.find("[uplink] req=req-1 again") != std::string::npos);
  CHECK(out.find("[uplink] other thread") != std::string::npos);

  text.str("");
  InitLogging("downlink", "debug", "json");
  {
    LogRequestScope scope("r2");
    spdlog::warn("a \"quoted\"\nline\twith \\ and \x01");
  }
  spdlog::info("plain");
  std::istringstream lines(text.str());
  std::string line;
  REQUIRE(std::getline(lines, line));
  auto first = nlohmann::json::parse(line);
  CHECK(first["level"] == "warning");
  CHECK(first["process"] == "downlink");
  CHECK(first["req"] == "r2");
  CHECK(first["msg"] == "a \"quoted\"\nline\twith \\ and \x01");
  CHECK(first["ts"].get<std::string>().size() == 23);
  REQUIRE(std::getline(lines, line));
  auto second = nlohmann::json::parse(line);
  CHECK(second["msg"] == "plain");
  CHECK_FALSE(second.contains("req"));

  InitLogging("test", "info", "text");
  spdlog::set_default_logger(saved);
}

TEST_CASE("error counters count failures by op and status code, from zero") {
  MetricsRegistry m;
  ErrorCounter errors(&m, "courier_redis_errors_total", "Redis failures", {"connect", "command"},
                      {Status::Code::kUnavailable, Status::Code::kInternal});
  std::string text = m.Render();
  CHECK(text.find("# TYPE courier_redis_errors_total counter") != std::string::npos);
  CHECK(text.find("courier_redis_errors_total{op=\"connect\",code=\"unavailable\"} 0") !=
        std::string::npos);
  CHECK(text.find("courier_redis_errors_total{op=\"command\",code=\"internal\"} 0") !=
        std::string::npos);

  CHECK(errors.Count("command", Status::Ok()).ok());
  Status down = Status::Unavailable("redis: connection refused");
  CHECK(errors.Count("command", down).message() == down.message());
  errors.Count("command", down, 3);
  errors.Count("script", Status::Internal("redis script x: ERR"));  // not named up front
  CHECK(errors.Value("command", Status::Code::kUnavailable) == 4);
  CHECK(errors.Value("command", Status::Code::kInternal) == 0);
  CHECK(errors.Value("script", Status::Code::kInternal) == 1);
  text = m.Render();
  CHECK(text.find("courier_redis_errors_total{op=\"command\",code=\"unavailable\"} 4") !=
        std::string::npos);
  CHECK(text.find("courier_redis_errors_total{op=\"script\",code=\"internal\"} 1") !=
        std::string::npos);
}

TEST_CASE("the backlog gauges sum the owned shards, take the oldest entry, forget a shard") {
  MetricsRegistry m;
  QueueBacklog backlog(&m, "delivery");
  auto gauge = [&](const char* name) { return m.GetGauge(name, "", "queue=\"delivery\"").value(); };
  const int64_t now = 1'700'000'100'000;
  backlog.Report(0, {2, 5, now - 7'500}, now);
  backlog.Report(3, {1, 0, now - 60'000}, now);
  CHECK(gauge("courier_queue_pending_entries") == 3);
  CHECK(gauge("courier_queue_unread_entries") == 5);
  CHECK(gauge("courier_queue_lag_seconds") == 60);
  backlog.Report(3, {0, 0, 0}, now);  // shard 3 caught up
  CHECK(gauge("courier_queue_pending_entries") == 2);
  CHECK(gauge("courier_queue_lag_seconds") == 7);
  backlog.Forget(0);  // shard 0 moved to another downlink
  CHECK(gauge("courier_queue_pending_entries") == 0);
  CHECK(gauge("courier_queue_unread_entries") == 0);
  CHECK(gauge("courier_queue_lag_seconds") == 0);
  CHECK(m.Render().find("courier_queue_lag_seconds{queue=\"delivery\"} 0") != std::string::npos);
}

TEST_CASE("histograms render cumulative buckets, sum and count per label set") {
  MetricsRegistry m;
  Histogram& h = m.GetHistogram("courier_http_request_duration_seconds", "latency",
                                "method=\"POST\",route=\"/v1/messages\"", {0.01, 0.1, 1});
  h.Observe(0.005);
  h.Observe(0.05);
  h.Observe(0.05);
  h.Observe(5);
  std::string text = m.Render();
  const std::string base = "courier_http_request_duration_seconds";
  const std::string labels = "method=\"POST\",route=\"/v1/messages\"";
  CHECK(text.find("# TYPE " + base + " histogram") != std::string::npos);
  CHECK(text.find(base + "_bucket{" + labels + ",le=\"0.01\"} 1\n") != std::string::npos);
  CHECK(text.find(base + "_bucket{" + labels + ",le=\"0.1\"} 3\n") != std::string::npos);
  CHECK(text.find(base + "_bucket{" + labels + ",le=\"1\"} 3\n") != std::string::npos);
  CHECK(text.find(base + "_bucket{" + labels + ",le=\"+Inf\"} 4\n") != std::string::npos);
  CHECK(text.find(base + "_count{" + labels + "} 4\n") != std::string::npos);
  CHECK(text.find(base + "_sum{" + labels + "} 5.105\n") != std::string::npos);
}

TEST_CASE("the brokers' device reports: valid ones summed, expired or unreadable ones stale") {
  const int64_t now = 1'000'000;
  CHECK(EncodeDeviceReport(17, now + 5) == "17 1000005");
  DeviceReportSum none = SumDeviceReports({}, now);
  CHECK(none.devices == 0);
  CHECK(none.brokers == 0);
  CHECK(none.stale.empty());

  DeviceReportSum sum = SumDeviceReports({{"b1:1883", EncodeDeviceReport(17, now + 1)},
                                          {"b2:1883", EncodeDeviceReport(0, now + 15000)},
                                          {"b3:1883", EncodeDeviceReport(40, now)},  // expired
                                          {"b4:1883", "12"},
                                          {"b5:1883", "-3 2000000"},
                                          {"b6:1883", "3 2000000 x"},
                                          {"b7:1883", ""}},
                                         now);
  CHECK(sum.devices == 17);
  CHECK(sum.brokers == 2);
  REQUIRE(sum.stale.size() == 5);
  CHECK(sum.stale[0] == std::pair<std::string, std::string>{"b3:1883", "40 1000000"});
  CHECK(sum.stale[1].first == "b4:1883");
  CHECK(sum.stale[4].first == "b7:1883");
}

}  // namespace courier
