// Observability end to end (issue #8): the /metrics of the uplink and of every downlink, scraped
// while messages flow, show the counters and gauges moving by what happened — messages accepted,
// requests and latency per route, deliveries pushed, the delivery backlog rising while the
// brokers are down and back to zero once delivered, Redis and broker failures — and the id of a
// request (X-Request-Id) is in the uplink's log lines and in the downlink's line about pushing
// the message it sent. Runs in both topologies; waits poll until a figure is reached (no timed
// assertions).
#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <sstream>
#include <thread>

#include "tests/support/courier_api.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"
#include "tests/support/test_stack.h"

namespace courier::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using Samples = std::map<std::string, double>;  // "name{labels}" -> value

// Every sample of a /metrics answer; empty when there is none.
Samples Scrape(int port) {
  Samples out;
  HttpResponse r = HttpClient(port).Get("/metrics");
  if (r.status != 200) return out;
  std::istringstream lines(r.body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    out[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return out;
}

// A sample's value, or -1 when it is absent.
double Value(const Samples& s, const std::string& key) {
  auto it = s.find(key);
  return it == s.end() ? -1 : it->second;
}

// A sample summed over every downlink of the tier (each reports its own shards and publishers);
// -1 when a downlink lacks it.
double DownlinkSum(const TestStack& stack, const std::string& key) {
  double sum = 0;
  for (int port : stack.downlink_metrics_ports()) {
    double v = Value(Scrape(port), key);
    if (v < 0) return -1;
    sum += v;
  }
  return sum;
}

// Polls `read` until `done(value)` or 30 s pass; returns the last value.
template <typename Read, typename Done>
double PollUntil(Read read, Done done) {
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  double v = read();
  while (!done(v) && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(100));
    v = read();
  }
  return v;
}

bool AnyLogContains(const std::vector<std::string>& paths, const std::string& needle) {
  for (const std::string& p : paths) {
    if (FileTail(p, 1000000).find(needle) != std::string::npos) return true;
  }
  return false;
}

std::vector<std::string> DownlinkLogs(const TestStack& stack) {
  std::vector<std::string> out;
  for (const std::string& p : stack.LogPaths()) {
    if (p.find("downlink") != std::string::npos) out.push_back(p);
  }
  return out;
}

const std::string kSends201 =
    R"(courier_http_requests_total{method="POST",route="/v1/messages",status="201"})";
const std::string kSendLatencyCount =
    R"(courier_http_request_duration_seconds_count{method="POST",route="/v1/messages"})";
const std::string kSendLatencyInf =
    R"(courier_http_request_duration_seconds_bucket{method="POST",route="/v1/messages",le="+Inf"})";
const std::string kPushed = "courier_deliveries_pushed_total";
const std::string kPending = R"(courier_queue_pending_entries{queue="delivery"})";
const std::string kUnread = R"(courier_queue_unread_entries{queue="delivery"})";
const std::string kLag = R"(courier_queue_lag_seconds{queue="delivery"})";

std::string RedisErrors(const std::string& op) {
  return R"(courier_redis_errors_total{op=")" + op + R"(",code="unavailable"})";
}
std::string BrokerErrors(const std::string& op) {
  return R"(courier_broker_errors_total{op=")" + op + R"(",code="unavailable"})";
}

}  // namespace

TEST_CASE("the metrics of uplink and downlinks move as messages flow") {
  TestStack stack;
  HttpClient http(stack.http_port());
  auto [alice, bob] = RegisterAndLogIn(http, {"alice", "bob"});
  MqttDevice phone(stack.mqtt());
  ConnectDevice(phone, bob, stack);

  // Every family is there from the start, at its resting value.
  Samples up = Scrape(stack.http_port());
  REQUIRE_MESSAGE(!up.empty(), stack.AllLogTails());
  for (const char* op : {"connect", "command", "script"}) {
    CHECK(Value(up, RedisErrors(op)) >= 0);
    CHECK(DownlinkSum(stack, RedisErrors(op)) >= 0);
  }
  for (const char* op : {"connect", "connection_lost", "publish"}) {
    CHECK(DownlinkSum(stack, BrokerErrors(op)) >= 0);
  }
  // The backlog is sampled a second after the workers start: wait for a first figure.
  CHECK(PollUntil([&] { return DownlinkSum(stack, kPending); }, [](double v) { return v == 0; }) ==
        0);
  CHECK(DownlinkSum(stack, kUnread) == 0);

  const double accepted = Value(up, "courier_messages_accepted_total");
  const double duplicates = Value(up, "courier_messages_duplicate_total");
  const double sends = std::max(0.0, Value(up, kSends201));
  const double latency_count = std::max(0.0, Value(up, kSendLatencyCount));
  const double pushed = DownlinkSum(stack, kPushed);
  REQUIRE(accepted >= 0);
  REQUIRE(pushed >= 0);

  {
    INFO("messages accepted, requests and latency per route, deliveries pushed");
    const int n = 5;
    for (int i = 1; i <= n; ++i) SendOk(http, alice, "bob", "m-" + std::to_string(i));
    Send(http, alice, "bob", "m-1");  // a retry: answered 200, nothing new
    REQUIRE(WaitForSeq(phone, bob.inbox(), n));

    up = Scrape(stack.http_port());
    CHECK(Value(up, "courier_messages_accepted_total") == accepted + n);
    CHECK(Value(up, "courier_messages_duplicate_total") == duplicates + 1);
    CHECK(Value(up, kSends201) == sends + n);
    CHECK(Value(up, kSendLatencyCount) == latency_count + n + 1);  // the 200 too
    CHECK(Value(up, kSendLatencyInf) == Value(up, kSendLatencyCount));
    // Route templates, not raw paths: one label however many conversations are read.
    HttpClient(stack.http_port())
        .Get("/v1/conversations/" + std::string("d:alice:bob") + "/messages", alice.token);
    up = Scrape(stack.http_port());
    bool raw_path = false;
    for (const auto& [key, value] : up)
      raw_path = raw_path || key.find("alice") != std::string::npos;
    CHECK_FALSE(raw_path);

    // Each message is pushed to both inboxes (bob's device and alice's user topic).
    CHECK(PollUntil([&] { return DownlinkSum(stack, kPushed); },
                    [&](double v) { return v >= pushed + 2 * n; }) == pushed + 2 * n);
    CHECK(PollUntil([&] { return DownlinkSum(stack, kPending) + DownlinkSum(stack, kUnread); },
                    [](double v) { return v == 0; }) == 0);
    CHECK(DownlinkSum(stack, kLag) == 0);
  }

  {
    INFO("Redis failures are counted by the process that met them");
    const double uplink_before = Value(Scrape(stack.http_port()), RedisErrors("command"));
    const double downlink_before = DownlinkSum(stack, RedisErrors("command"));
    // Redis answers no write for 3 s: longer than the processes' command timeout (2 s).
    for (auto& r : stack.RedisCommandOnMasters({"CLIENT", "PAUSE", "3000", "WRITE"})) {
      REQUIRE(r.ok());
    }
    HttpResponse refused = Send(http, alice, "bob", "paused-1");
    CHECK_MESSAGE(refused.status == 503, refused.Describe());
    CHECK(Value(Scrape(stack.http_port()), RedisErrors("command")) > uplink_before);
    // The downlinks' blocking reads and lease renewals time out too.
    CHECK(PollUntil([&] { return DownlinkSum(stack, RedisErrors("command")); },
                    [&](double v) { return v > downlink_before; }) > downlink_before);
    // Once Redis answers, the retry goes through and is delivered.
    json sent = json::object();
    PollUntil(
        [&] {
          HttpResponse r = Send(http, alice, "bob", "paused-1");
          if (r.status == 201 || r.status == 200) sent = r.json;
          return static_cast<double>(r.status);
        },
        [](double status) { return status == 201 || status == 200; });
    REQUIRE(sent.contains("conv_seq"));
    CHECK(WaitForCmid(phone, "paused-1", std::chrono::seconds(30)));
  }

  {
    INFO("the backlog grows while the brokers are down and drains once they are back");
    const double pushed_before = DownlinkSum(stack, kPushed);
    const double lost = DownlinkSum(stack, BrokerErrors("connection_lost"));
    const double refused = DownlinkSum(stack, BrokerErrors("connect"));
    stack.StopBroker();
    const int n = 3;
    for (int i = 1; i <= n; ++i) SendOk(http, alice, "bob", "down-" + std::to_string(i));
    // 2n deliveries wait, read (pending) or not (unread).
    CHECK(PollUntil([&] { return DownlinkSum(stack, kPending) + DownlinkSum(stack, kUnread); },
                    [&](double v) { return v >= 2 * n; }) >= 2 * n);
    CHECK(PollUntil([&] { return DownlinkSum(stack, BrokerErrors("connection_lost")); },
                    [&](double v) { return v > lost; }) > lost);
    CHECK(PollUntil([&] { return DownlinkSum(stack, BrokerErrors("connect")); },
                    [&](double v) { return v > refused; }) > refused);

    REQUIRE(stack.StartBroker().ok());
    CHECK(PollUntil([&] { return DownlinkSum(stack, kPushed); },
                    [&](double v) { return v >= pushed_before + 2 * n; }) >= pushed_before + 2 * n);
    CHECK(PollUntil([&] { return DownlinkSum(stack, kPending) + DownlinkSum(stack, kUnread); },
                    [](double v) { return v == 0; }) == 0);
    CHECK(PollUntil([&] { return DownlinkSum(stack, kLag); }, [](double v) { return v == 0; }) ==
          0);
  }
}

TEST_CASE("every downlink counts the devices connected across the brokers") {
  TestStack stack;
  HttpClient http(stack.http_port());
  auto [alice, bob] = RegisterAndLogIn(http, {"alice", "bob"});
  const auto brokers = static_cast<double>(stack.broker_count());
  // Each downlink shows the deployment's figures, not a share: all must agree on `want`.
  auto every_downlink = [&](const std::string& key, double want) {
    return [&stack, key, want] {
      for (int port : stack.downlink_metrics_ports()) {
        double v = Value(Scrape(port), key);
        if (v != want) return v;
      }
      return want;
    };
  };
  auto is = [](double want) { return [want](double v) { return v == want; }; };
  // Brokers report every 5 s and downlinks read every 5 s: the polls wait up to 30 s.
  CHECK(PollUntil(every_downlink("courier_brokers_reporting", brokers), is(brokers)) == brokers);
  CHECK(PollUntil(every_downlink("courier_online_devices", 0), is(0)) == 0);

  MqttDevice phone(stack.mqtt()), laptop(stack.mqtt());
  ConnectDevice(phone, bob, stack);
  ConnectDevice(laptop, alice, stack);
  CHECK(PollUntil(every_downlink("courier_online_devices", 2), is(2)) == 2);
  REQUIRE(phone.Disconnect());
  CHECK(PollUntil(every_downlink("courier_online_devices", 1), is(1)) == 1);

  // A stopped broker takes its report with it (the plugin removes it on the way out).
  stack.StopBroker();
  CHECK(PollUntil(every_downlink("courier_brokers_reporting", 0), is(0)) == 0);
  CHECK(PollUntil(every_downlink("courier_online_devices", 0), is(0)) == 0);
  REQUIRE(stack.StartBroker().ok());
  CHECK(PollUntil(every_downlink("courier_brokers_reporting", brokers), is(brokers)) == brokers);
}

TEST_CASE("a request id follows a message from the uplink's log to the downlink's") {
  TestStack stack;  // its logs are at debug level
  HttpClient http(stack.http_port());
  auto [alice, bob] = RegisterAndLogIn(http, {"alice", "bob"});
  MqttDevice phone(stack.mqtt());
  ConnectDevice(phone, bob, stack);

  const std::string id = "obs-test-7c1e:42";
  HttpResponse sent =
      http.Send("POST", "/v1/messages",
                json{{"to", "user:bob"}, {"cmid", "traced-1"}, {"body", {{"text", "hi"}}}}.dump(),
                "application/json", alice.token, {{"X-Request-Id", id}});
  REQUIRE_MESSAGE(sent.status == 201, sent.Describe());
  CHECK(sent.header("X-Request-Id") == id);
  REQUIRE(WaitForCmid(phone, "traced-1"));

  const std::string uplink_log = stack.log_path(Component::kUplink);
  CHECK_MESSAGE(AnyLogContains({uplink_log}, "req=" + id + " send "),
                stack.LogTail(Component::kUplink));
  CHECK_MESSAGE(AnyLogContains({uplink_log}, "req=" + id + " http POST /v1/messages -> 201"),
                stack.LogTail(Component::kUplink));
  // Pushed to bob (and to alice's own inbox topic), each line with the id.
  std::string bob_line = "req=" + id + " pushed inbox delivery ";
  CHECK(PollUntil([&] { return AnyLogContains(DownlinkLogs(stack), bob_line) ? 1.0 : 0.0; },
                  [](double v) { return v == 1; }) == 1);
  CHECK_MESSAGE(AnyLogContains(DownlinkLogs(stack), " for bob"),
                stack.LogTail(Component::kDownlink));

  // Without a header, or with one that is not sane, the uplink makes an id of its own.
  HttpResponse plain = SendTo(http, alice, "user:bob", "traced-2", json{{"text", "2"}});
  CHECK(plain.header("X-Request-Id").size() == 16);
  HttpResponse forged =
      http.Send("POST", "/v1/messages",
                json{{"to", "user:bob"}, {"cmid", "traced-3"}, {"body", {{"text", "3"}}}}.dump(),
                "application/json", alice.token, {{"X-Request-Id", "bad id\" injected"}});
  CHECK(forged.status == 201);
  CHECK(forged.header("X-Request-Id").size() == 16);
  CHECK_FALSE(AnyLogContains({uplink_log}, "injected"));
  // Errors carry it too.
  HttpResponse missing = HttpClient(stack.http_port()).Get("/v1/nowhere");
  CHECK(missing.status == 404);
  CHECK(missing.header("X-Request-Id").size() == 16);
}

}  // namespace courier::testing
