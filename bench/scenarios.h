// The benchmark scenarios of issue #7 (docs/performance.md). Each drives the running stack the
// way devices do — HTTP senders on keep-alive connections, MQTT devices logged in through the
// API (MqttSwarm) — checks every delivery (InboxTracker) and returns one Report. Each is bounded
// in time: setup waits, the measured phase and the settling wait all have limits.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "bench/report.h"
#include "client/api_codec.h"

namespace courier::bench {

struct BenchOptions {
  client::BaseUrl base;         // the uplink
  std::string url;              // as given, for the report
  std::string jwt_secret_file;  // baseline: signs the publishers' service token
  std::string service_user = "courier-service";
  std::vector<std::string> source_addresses;  // MQTT devices bind to these in turn ("" = any)
  std::vector<std::pair<std::string, int>> measure_pids;  // name, pid: memory per device
  std::string run_id;  // prefix of every user and group id of this run
  std::string password = "bench-password";

  int pairs = 100;          // one-to-one, baseline: sender → recipient pairs
  int senders = 16;         // HTTP sender threads (each one keep-alive connection)
  double duration_s = 10;   // one-to-one, baseline: the measured phase
  double rate = 0;          // one-to-one: offered msg/s over all senders; 0 = as fast as accepted
  int publishers = 4;       // baseline: QoS 1 publisher connections (per broker)
  int window = 64;          // baseline: unacknowledged publishes per publisher
  int members = 500;        // group: members, all online
  int group_messages = 20;  // group: messages, one at a time
  int messages = 10000;     // offline: backlog
  int devices = 6000;       // connections, reconnect-storm (3 open files each: 20,000 max)
  int setup_threads = 8;    // registering and logging in users
  double settle_s = 15;     // longest wait for the last deliveries after sending

  // connections, run by several processes at once (scripts/bench --devices N): before logging
  // in, before connecting and before disconnecting, the scenario says how far it got on stderr
  // ("[courier-bench] registered: N", "logged in: N", "connected: N") and waits until the file
  // PHASE_DIR/login, /connect or /stop exists, at most phase_timeout_s each (then it fails).
  // So every process's devices are connected at the same moment, while memory is measured.
  std::string phase_dir;         // "" = no waiting: each phase follows the last at once
  double phase_timeout_s = 600;  // longest wait for one phase file
};

Report RunOneToOne(const BenchOptions& options);
Report RunBaseline(const BenchOptions& options);
Report RunGroup(const BenchOptions& options);
Report RunOffline(const BenchOptions& options);
Report RunConnections(const BenchOptions& options);
Report RunReconnectStorm(const BenchOptions& options);

}  // namespace courier::bench
