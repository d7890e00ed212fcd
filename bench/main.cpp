// courier-bench: drives a running Courier stack the way devices do and prints one `key: value`
// block per scenario (docs/performance.md). scripts/bench starts a stack and runs it.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <random>

#include "bench/scenarios.h"

namespace {

using courier::bench::BenchOptions;
using courier::bench::Report;

std::string RandomRunId() {
  std::random_device rd;
  char buf[16];
  std::snprintf(buf, sizeof buf, "b%06x", static_cast<unsigned>(rd() & 0xffffff));
  return buf;
}

// As many open files as the hard limit allows: one per device connection.
rlim_t RaiseOpenFiles() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
  getrlimit(RLIMIT_NOFILE, &limit);
  return limit.rlim_cur;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "courier-bench: load and delivery checks against a running Courier stack. Prints one "
      "`key: value` block; exits 0 when every delivery check passed, 1 when one failed, 2 on "
      "bad usage."};
  BenchOptions o;
  std::string scenario;
  std::string url = "http://127.0.0.1:8080";
  std::vector<std::string> measure;
  bool quick = false;
  app.add_option("--scenario", scenario,
                 "one-to-one, baseline, group, offline, connections, "
                 "reconnect-storm")
      ->required()
      ->check(CLI::IsMember(
          {"one-to-one", "baseline", "group", "offline", "connections", "reconnect-storm"}));
  app.add_option("--url", url, "the uplink")->capture_default_str();
  app.add_option("--jwt-secret-file", o.jwt_secret_file,
                 "baseline: the stack's JWT secret, to sign the publishers' service token");
  app.add_option("--service-user", o.service_user, "baseline: the broker's service account")
      ->capture_default_str();
  app.add_option("--measure-pid", measure,
                 "connections: NAME:PID of a process whose memory per device to report "
                 "(repeatable; every name but 'uplink' counts in memory_per_device_kb)");
  app.add_option("--source-addresses", o.source_addresses,
                 "local addresses the MQTT devices bind to in turn (e.g. 127.0.0.2,127.0.0.3), "
                 "for more connections than one address has ephemeral ports")
      ->delimiter(',');
  app.add_option("--run-id", o.run_id, "prefix of the run's user ids (default: random)");
  app.add_option("--pairs", o.pairs, "one-to-one, baseline: sender/recipient pairs")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--senders", o.senders, "HTTP sender threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--duration-s", o.duration_s, "one-to-one, baseline: seconds of sending")
      ->check(CLI::Range(0.5, 600.0))
      ->capture_default_str();
  app.add_option("--rate", o.rate, "one-to-one: offered msg/s in all; 0 = as fast as accepted")
      ->check(CLI::Range(0.0, 1e6))
      ->capture_default_str();
  app.add_option("--publishers", o.publishers, "baseline: publisher connections per broker")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--window", o.window, "baseline: unacknowledged publishes per publisher")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  app.add_option("--members", o.members, "group: members (all online)")
      ->check(CLI::Range(2, 2000))
      ->capture_default_str();
  app.add_option("--group-messages", o.group_messages, "group: messages, one at a time")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  app.add_option("--messages", o.messages, "offline: backlog size")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--devices", o.devices, "connections, reconnect-storm: devices")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--setup-threads", o.setup_threads, "threads registering and logging in users")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--settle-s", o.settle_s, "longest wait for the last deliveries")
      ->check(CLI::Range(0.0, 600.0))
      ->capture_default_str();
  app.add_option("--phase-dir", o.phase_dir,
                 "connections: before logging in, connecting and disconnecting, print "
                 "'registered: N', 'logged in: N', 'connected: N' on stderr and wait for the file "
                 "DIR/login, DIR/connect, DIR/stop, so that several processes hold their devices "
                 "at once (scripts/bench --devices N)");
  app.add_option("--phase-timeout-s", o.phase_timeout_s,
                 "connections: longest wait for one --phase-dir file; then the run fails")
      ->check(CLI::Range(1.0, 3600.0))
      ->capture_default_str();
  app.add_flag("--quick", quick,
               "small sizes for a smoke run (a few seconds a scenario); sizes given explicitly "
               "still win");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  auto base = courier::client::ParseBaseUrl(url);
  if (!base.ok()) {
    std::cerr << "courier-bench: --url: " << base.status().message() << "\n";
    return 2;
  }
  o.base = *base;
  o.url = url;
  if (o.run_id.empty()) o.run_id = RandomRunId();
  for (const std::string& m : measure) {
    auto colon = m.rfind(':');
    int pid = 0;
    try {
      pid = colon == std::string::npos ? 0 : std::stoi(m.substr(colon + 1));
    } catch (const std::exception&) {
    }
    if (colon == 0 || pid <= 0) {
      std::cerr << "courier-bench: --measure-pid wants NAME:PID, not '" << m << "'\n";
      return 2;
    }
    o.measure_pids.emplace_back(m.substr(0, colon), pid);
  }
  if (quick) {
    auto unless_given = [&](const char* flag, auto* field, auto value) {
      if (app.count(flag) == 0) *field = value;
    };
    unless_given("--pairs", &o.pairs, 10);
    unless_given("--senders", &o.senders, 4);
    unless_given("--duration-s", &o.duration_s, 2.0);
    unless_given("--members", &o.members, 50);
    unless_given("--group-messages", &o.group_messages, 5);
    unless_given("--messages", &o.messages, 500);
    unless_given("--devices", &o.devices, 200);
  }
  if (scenario == "baseline" && o.jwt_secret_file.empty()) {
    std::cerr << "courier-bench: baseline needs --jwt-secret-file\n";
    return 2;
  }
  rlim_t open_files = RaiseOpenFiles();
  // libmosquitto gives every client a socket pair besides its connection (to wake its own
  // loop, unused here): three descriptors a device.
  constexpr rlim_t kFilesPerDevice = 3;
  if ((scenario == "connections" || scenario == "reconnect-storm") &&
      static_cast<rlim_t>(o.devices) * kFilesPerDevice + 200 > open_files) {
    std::cerr << "courier-bench: " << o.devices << " devices need " << kFilesPerDevice
              << " open files each, more than this process may have (" << open_files
              << "); run several courier-bench processes\n";
    return 2;
  }

  Report report;
  if (scenario == "one-to-one") report = courier::bench::RunOneToOne(o);
  if (scenario == "baseline") report = courier::bench::RunBaseline(o);
  if (scenario == "group") report = courier::bench::RunGroup(o);
  if (scenario == "offline") report = courier::bench::RunOffline(o);
  if (scenario == "connections") report = courier::bench::RunConnections(o);
  if (scenario == "reconnect-storm") report = courier::bench::RunReconnectStorm(o);
  report.Add("run_id", o.run_id);
  report.Print(std::cout);
  return report.ok() ? 0 : 1;
}
