#include "bench/scenarios.h"

#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "bench/api_session.h"
#include "bench/inbox_tracker.h"
#include "bench/mqtt_swarm.h"
#include "common/config.h"
#include "common/jwt.h"

namespace courier::bench {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr auto kSubscribeTimeoutMin = std::chrono::seconds(60);

void Progress(const std::string& text) { std::cerr << "[courier-bench] " << text << std::endl; }

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string UserName(const BenchOptions& o, const std::string& role, int i) {
  return o.run_id + "_" + role + std::to_string(i);
}

// Runs fn(session, i) for i in [0, count) on `threads` threads, each with its own keep-alive
// session; says how far it got every few seconds. Returns the first error (and stops early).
Status ParallelFor(const BenchOptions& o, int count, int threads, const std::string& what,
                   const std::function<Status(ApiSession&, int)>& fn) {
  std::atomic<int> next{0};
  std::atomic<int> done{0};
  std::mutex mu;
  Status first = Status::Ok();
  std::atomic<bool> failed{false};
  std::vector<std::thread> pool;
  auto start = Clock::now();
  for (int t = 0; t < std::max(1, threads); ++t) {
    pool.emplace_back([&] {
      ApiSession session(o.base);
      for (int i = next++; i < count && !failed; i = next++) {
        Status s = fn(session, i);
        if (!s.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          if (first.ok()) {
            first = Status::Unavailable(what + " #" + std::to_string(i) + ": " + s.ToString());
          }
          failed = true;
        }
        ++done;
      }
    });
  }
  auto last_report = Clock::now();
  while (done < count && !failed) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (Clock::now() - last_report > std::chrono::seconds(3)) {
      last_report = Clock::now();
      Progress(what + ": " + std::to_string(done.load()) + "/" + std::to_string(count) + " in " +
               std::to_string(static_cast<int>(SecondsSince(start))) + " s");
    }
  }
  for (auto& t : pool) t.join();
  return first;
}

Status RegisterAll(const BenchOptions& o, const std::vector<std::string>& users) {
  return ParallelFor(o, static_cast<int>(users.size()), o.setup_threads, "register",
                     [&](ApiSession& s, int i) { return s.Register(users[i], o.password); });
}

Result<std::vector<client::LoginInfo>> LoginAll(const BenchOptions& o,
                                                const std::vector<std::string>& users,
                                                const std::string& device) {
  std::vector<client::LoginInfo> logins(users.size());
  Status s = ParallelFor(o, static_cast<int>(users.size()), o.setup_threads, "log in",
                         [&](ApiSession& session, int i) {
                           auto login = session.Login(users[i], o.password, device);
                           if (!login.ok()) return login.status();
                           logins[i] = std::move(*login);
                           return Status::Ok();
                         });
  if (!s.ok()) return s;
  return logins;
}

// RegisterAll, or false with the failure in the report.
bool Registered(const BenchOptions& o, const std::vector<std::string>& users, Report& r) {
  Status s = RegisterAll(o, users);
  if (!s.ok()) r.Fail(s.ToString());
  return s.ok();
}

// LoginAll, or nothing with the failure in the report.
std::optional<std::vector<client::LoginInfo>> LoggedIn(const BenchOptions& o,
                                                       const std::vector<std::string>& users,
                                                       const std::string& device, Report& r) {
  auto logins = LoginAll(o, users, device);
  if (!logins.ok()) {
    r.Fail("log in: " + logins.status().ToString());
    return std::nullopt;
  }
  return std::move(*logins);
}

// A swarm's handler that hands every push to `tracker`, which must outlive the swarm.
MqttSwarm::MessageHandler PushesTo(InboxTracker& tracker) {
  return [&tracker](size_t d, std::string_view, std::string_view payload, int64_t now) {
    tracker.Pushed(d, payload, now);
  };
}

// The user's inbox topic, from the login answer (ParseLoginAnswer checked it is there).
std::string InboxTopicOf(const client::LoginInfo& login) {
  return login.mqtt.value("topics", json::object()).value("inbox", "");
}

// The MQTT connection a device makes from its login answer (SPEC §4).
MqttEndpoint EndpointOf(const BenchOptions& o, const client::LoginInfo& login, size_t index) {
  MqttEndpoint e;
  const json& m = login.mqtt;
  e.host = m.value("host", "127.0.0.1");
  e.port = m.value("port", 1883);
  e.client_id = m.value("client_id", "");
  e.username = m.value("username", "");
  e.password = m.value("password", "");
  const json topics = m.value("topics", json::object());
  e.subscriptions = {topics.value("inbox", ""), topics.value("device", "")};
  if (!o.source_addresses.empty()) {
    e.bind_address = o.source_addresses[index % o.source_addresses.size()];
  }
  return e;
}

std::string BrokerOf(const MqttEndpoint& e) { return e.host + ":" + std::to_string(e.port); }

// Connects one device per login and waits until all are subscribed; false (with the reason in
// `report`) when they are not within the time allowed.
bool ConnectAll(const BenchOptions& o, MqttSwarm& swarm,
                const std::vector<client::LoginInfo>& logins, Report& report) {
  for (size_t i = 0; i < logins.size(); ++i) swarm.Add(EndpointOf(o, logins[i], i));
  auto limit = std::max<std::chrono::milliseconds>(
      kSubscribeTimeoutMin, std::chrono::milliseconds(static_cast<int64_t>(logins.size()) * 5));
  if (swarm.WaitSubscribed(logins.size(), limit)) return true;
  report.Fail("only " + std::to_string(swarm.subscribed()) + " of " +
              std::to_string(logins.size()) + " devices subscribed in time (" + swarm.last_error() +
              ")");
  return false;
}

// Waits until `tracker` has `expected` bench messages, at most `settle_s`.
void WaitDelivered(const InboxTracker& tracker, int64_t expected, double settle_s) {
  auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(settle_s * 1000));
  while (tracker.delivered() < expected && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void AddLatencies(Report& r, const std::string& prefix, const Latencies& l) {
  r.Add(prefix + "_p50_ms", l.PercentileMs(50), 3);
  r.Add(prefix + "_p90_ms", l.PercentileMs(90), 3);
  r.Add(prefix + "_p99_ms", l.PercentileMs(99), 3);
  r.Add(prefix + "_max_ms", l.MaxMs(), 3);
}

// When the slowest pushes were sent (seconds into the phase) and how slow they were: a stall
// that recurs shows as evenly spaced times.
void AddSlowest(Report& r, const InboxTracker& tracker, int64_t start_ns) {
  std::string text;
  for (const auto& [sent_ns, latency_ns] : tracker.slowest(8)) {
    char item[64];
    std::snprintf(item, sizeof item, "%s%.2fs/%.0fms", text.empty() ? "" : " ",
                  static_cast<double>(sent_ns - start_ns) / 1e9,
                  static_cast<double>(latency_ns) / 1e6);
    text += item;
  }
  r.Add("slowest_at", text.empty() ? "-" : text);
}

// The delivery check every scenario ends with: all must be 0.
void AddDeliveryCheck(Report& r, const InboxTracker::Totals& t) {
  r.Add("delivered", t.delivered);
  r.Add("lost", t.lost);
  r.Add("duplicated", t.duplicated);
  r.Add("out_of_order", t.out_of_order);
  r.Add("unexpected", t.unexpected);
  r.Add("redelivered", t.redelivered);
  r.Add("push_seq_gaps", t.push_seq_gaps);
  if (t.lost > 0) r.Fail(std::to_string(t.lost) + " accepted messages never arrived");
  if (t.duplicated > 0) r.Fail(std::to_string(t.duplicated) + " messages arrived twice");
  if (t.out_of_order > 0) r.Fail(std::to_string(t.out_of_order) + " messages out of order");
  if (t.unexpected > 0) r.Fail(std::to_string(t.unexpected) + " unexpected deliveries");
}

void AddSwarmHealth(Report& r, const MqttSwarm& swarm) {
  r.Add("mqtt_connection_lost", static_cast<int64_t>(swarm.connection_lost()));
  r.Add("mqtt_refused", static_cast<int64_t>(swarm.refused()));
  if (swarm.connection_lost() > 0)
    r.Fail("devices lost their MQTT connection: " + swarm.last_error());
  if (swarm.refused() > 0) r.Fail("the broker refused devices: " + swarm.last_error());
}

std::string CmidOf(const BenchOptions& o, int stream_owner, int64_t n) {
  return o.run_id + "-" + std::to_string(stream_owner) + "-" + std::to_string(n);
}

json BodyOf(int64_t stream, int64_t n, int64_t sent_ns) {
  return json{{"p", stream}, {"n", n}, {"t", sent_ns}};
}

int64_t UnixMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// With --phase-dir: says how far this process got ("connected: 6000") and waits until the file
// that starts the next phase exists, so that several processes go through each phase together
// (BenchOptions::phase_dir). True at once without --phase-dir; false (the run failed, with why)
// when the file does not appear within phase_timeout_s.
bool WaitForPhase(const BenchOptions& o, const std::string& done, size_t count,
                  const std::string& next, Report& r) {
  if (o.phase_dir.empty()) return true;
  const std::string path = o.phase_dir + "/" + next;
  Progress(done + ": " + std::to_string(count) + " (waiting for " + path + ")");
  auto deadline =
      Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(o.phase_timeout_s * 1000));
  while (access(path.c_str(), F_OK) != 0) {
    if (Clock::now() >= deadline) {
      r.Fail(path + " did not appear within " + std::to_string(o.phase_timeout_s) + " s");
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

// Resident memory of a process in KiB (VmRSS), or -1 if it cannot be read.
int64_t RssKib(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

// CPU time (user + system) a process has used so far, in microseconds; -1 if unreadable.
int64_t CpuMicros(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may hold spaces) in parentheses: state is field 3,
  // utime and stime fields 14 and 15.
  auto close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  int64_t utime = -1;
  int64_t stime = -1;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
  }
  if (utime < 0 || stime < 0) return -1;
  return (utime + stime) * 1000000 / sysconf(_SC_CLK_TCK);
}

// Where the CPU goes during a measured phase: each measured process's and this one's CPU time,
// reported per delivered message (docs/performance.md, "Where the time goes").
class CpuMeter {
 public:
  explicit CpuMeter(const BenchOptions& o) : pids_(o.measure_pids) {
    pids_.emplace_back("bench", static_cast<int>(getpid()));
    for (const auto& [name, pid] : pids_) start_.push_back(CpuMicros(pid));
  }
  void Stop() {
    for (const auto& [name, pid] : pids_) stop_.push_back(CpuMicros(pid));
  }
  // REQUIRES: Stop() was called.
  void AddTo(Report& r, int64_t messages) const {
    for (size_t i = 0; i < pids_.size(); ++i) {
      if (start_[i] < 0 || stop_[i] < 0 || messages <= 0) continue;
      r.Add(pids_[i].first + "_cpu_us_per_msg",
            static_cast<double>(stop_[i] - start_[i]) / static_cast<double>(messages), 1);
    }
  }

 private:
  std::vector<std::pair<std::string, int>> pids_;
  std::vector<int64_t> start_;
  std::vector<int64_t> stop_;
};

// Everything a sender thread keeps of its own sends; merged after the threads have joined.
struct SenderTally {
  int64_t sent = 0;
  int64_t accepted = 0;
  int64_t errors = 0;
  std::string last_error;
  Latencies http;
};

}  // namespace

Report RunOneToOne(const BenchOptions& o) {
  Report r;
  r.Add("scenario", "one-to-one");
  r.Add("pairs", o.pairs);
  r.Add("senders", o.senders);
  r.Add("rate_offered", o.rate, 0);
  r.Add("duration_s", o.duration_s, 1);
  std::vector<std::string> senders, recipients;
  for (int i = 0; i < o.pairs; ++i) {
    senders.push_back(UserName(o, "s", i));
    recipients.push_back(UserName(o, "r", i));
  }
  std::vector<std::string> all = senders;
  all.insert(all.end(), recipients.begin(), recipients.end());
  Progress("one-to-one: registering " + std::to_string(all.size()) + " users");
  if (!Registered(o, all, r)) return r;
  auto sender_logins = LoggedIn(o, senders, "bench-send", r);
  if (!sender_logins) return r;
  auto recipient_logins = LoggedIn(o, recipients, "bench-phone", r);
  if (!recipient_logins) return r;
  // Both of a pair are online (issue #7: "online pairs"): recipients are devices 0..P-1,
  // senders P..2P-1, which get the echo of what they send (their own inbox entry, for their
  // other devices). The echoes are checked like the rest; the latency is the recipient's.
  const size_t pairs = recipients.size();
  InboxTracker tracker(2 * pairs, /*track_spreads=*/false, /*timed_devices=*/pairs);
  MqttSwarm swarm(PushesTo(tracker));
  std::vector<client::LoginInfo> devices = *recipient_logins;
  devices.insert(devices.end(), sender_logins->begin(), sender_logins->end());
  if (!ConnectAll(o, swarm, devices, r)) return r;

  Progress("one-to-one: sending for " + std::to_string(o.duration_s) + " s" +
           (o.rate > 0 ? " at " + std::to_string(static_cast<int>(o.rate)) + " msg/s"
                       : " as fast as accepted"));
  const int threads = std::max(1, std::min(o.senders, o.pairs));
  std::vector<SenderTally> tallies(threads);
  std::vector<std::thread> pool;
  CpuMeter cpu(o);
  const auto start = Clock::now();
  const auto deadline =
      start + std::chrono::milliseconds(static_cast<int64_t>(o.duration_s * 1000));
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      ApiSession session(o.base);
      SenderTally& tally = tallies[t];
      std::vector<int> mine;
      for (int i = t; i < o.pairs; i += threads) mine.push_back(i);
      std::vector<int64_t> next_n(mine.size(), 0);
      // Paced: thread t sends every threads/rate seconds, the threads staggered evenly.
      const auto interval =
          o.rate > 0 ? std::chrono::nanoseconds(static_cast<int64_t>(1e9 * threads / o.rate))
                     : std::chrono::nanoseconds(0);
      auto next_at = start + interval * t / threads;
      for (size_t k = 0; Clock::now() < deadline; k = (k + 1) % mine.size()) {
        if (o.rate > 0) {
          std::this_thread::sleep_until(next_at);
          next_at += interval;
          if (Clock::now() >= deadline) break;
        }
        int pair = mine[k];
        int64_t n = next_n[k]++;
        int64_t t0 = MqttSwarm::NowNs();
        ++tally.sent;
        auto sent = session.Send((*sender_logins)[pair].token, "user:" + recipients[pair],
                                 CmidOf(o, pair, n), BodyOf(0, n, t0));
        if (!sent.ok()) {
          ++tally.errors;
          tally.last_error = sent.status().ToString();
          continue;
        }
        tally.http.Add(MqttSwarm::NowNs() - t0);
        ++tally.accepted;
        tracker.Accepted(static_cast<size_t>(pair), 0, n);
        tracker.Accepted(pairs + static_cast<size_t>(pair), 0, n);
      }
    });
  }
  for (auto& t : pool) t.join();
  const double send_s = SecondsSince(start);
  SenderTally total;
  for (const SenderTally& t : tallies) {
    total.sent += t.sent;
    total.accepted += t.accepted;
    total.errors += t.errors;
    if (!t.last_error.empty()) total.last_error = t.last_error;
    total.http.Append(t.http);
  }
  WaitDelivered(tracker, 2 * total.accepted, o.settle_s);
  cpu.Stop();
  const InboxTracker::Totals totals = tracker.totals();
  const int64_t start_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(start.time_since_epoch()).count();
  const double deliver_s =
      std::max(1e-9, static_cast<double>(tracker.last_arrival_ns() - start_ns) / 1e9);
  r.Add("sent", total.sent);
  r.Add("accepted", total.accepted);
  r.Add("send_errors", total.errors);
  if (total.errors > 0) r.Add("last_send_error", total.last_error);
  r.Add("accepted_msg_per_s", static_cast<double>(total.accepted) / send_s, 1);
  const int64_t to_recipients = tracker.timed_delivered();
  r.Add("delivered_msg_per_s", static_cast<double>(to_recipients) / deliver_s, 1);
  r.Add("echoes_delivered", totals.delivered - to_recipients);
  AddLatencies(r, "latency", tracker.latencies());
  AddSlowest(r, tracker, start_ns);
  AddLatencies(r, "http", total.http);
  cpu.AddTo(r, to_recipients);
  AddDeliveryCheck(r, totals);
  AddSwarmHealth(r, swarm);
  if (total.accepted == 0) r.Fail("no send was accepted: " + total.last_error);
  return r;
}

Report RunBaseline(const BenchOptions& o) {
  Report r;
  r.Add("scenario", "baseline");
  r.Add("pairs", o.pairs);
  r.Add("publishers", o.publishers);
  r.Add("window", o.window);
  r.Add("duration_s", o.duration_s, 1);
  auto secret = ReadSecretFile(o.jwt_secret_file);
  if (!secret.ok()) {
    r.Fail("--jwt-secret-file: " + secret.status().ToString());
    return r;
  }
  std::vector<std::string> recipients;
  for (int i = 0; i < o.pairs; ++i) recipients.push_back(UserName(o, "b", i));
  Progress("baseline: registering " + std::to_string(recipients.size()) + " users");
  if (!Registered(o, recipients, r)) return r;
  auto logins = LoggedIn(o, recipients, "bench-phone", r);
  if (!logins) return r;
  // What the publishers' callbacks use on the loop thread: declared before the swarm, so that
  // it outlives the loop (which the swarm's destructor stops).
  struct Publisher {
    std::vector<size_t> recipients;
    size_t cursor = 0;
    std::deque<std::pair<size_t, int64_t>> unacked;
  };
  std::vector<std::unique_ptr<Publisher>> publishers;
  std::vector<std::string> topics;
  for (const auto& login : *logins) topics.push_back(InboxTopicOf(login));
  std::vector<int64_t> next_n(recipients.size(), 0);
  std::vector<int64_t> next_seq(recipients.size(), 1);
  std::atomic<int64_t> acked{0};
  std::atomic<int64_t> published{0};
  InboxTracker tracker(recipients.size());
  MqttSwarm swarm(PushesTo(tracker));
  if (!ConnectAll(o, swarm, *logins, r)) return r;

  // The service account's token, as the downlink signs it (downlink/mqtt_publisher.cpp).
  JwtCodec jwt({*secret});
  TokenClaims service;
  service.user_id = o.service_user;
  service.role = "service";
  service.issued_at = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  service.expires_at = service.issued_at + 3600;
  const std::string token = jwt.Sign(service);

  // Publishers per broker (a sharded stack has devices on several), each with its share of
  // the recipients, publishing an envelope-shaped payload to their inbox topics.
  std::map<std::string, std::vector<size_t>> by_broker;
  for (size_t i = 0; i < logins->size(); ++i) {
    by_broker[BrokerOf(EndpointOf(o, (*logins)[i], i))].push_back(i);
  }
  std::vector<size_t> publisher_devices;
  for (const auto& [broker, members] : by_broker) {
    MqttEndpoint first = EndpointOf(o, (*logins)[members.front()], members.front());
    for (int k = 0; k < o.publishers; ++k) {
      auto p = std::make_unique<Publisher>();
      for (size_t j = static_cast<size_t>(k); j < members.size(); j += o.publishers) {
        p->recipients.push_back(members[j]);
      }
      if (p->recipients.empty()) continue;
      MqttEndpoint e;
      e.host = first.host;
      e.port = first.port;
      e.client_id = o.run_id + "-pub-" + std::to_string(publishers.size());
      e.username = o.service_user;
      e.password = token;
      publisher_devices.push_back(swarm.Add(e));
      publishers.push_back(std::move(p));
    }
  }
  if (!swarm.WaitSubscribed(logins->size() + publishers.size(), kSubscribeTimeoutMin)) {
    r.Fail("publishers did not connect: " + swarm.last_error());
    return r;
  }

  Progress("baseline: publishing for " + std::to_string(o.duration_s) + " s");
  CpuMeter cpu(o);
  const auto start = Clock::now();
  const int64_t start_ns = MqttSwarm::NowNs();
  const int64_t deadline_ns = start_ns + static_cast<int64_t>(o.duration_s * 1e9);
  for (size_t k = 0; k < publishers.size(); ++k) {
    Publisher* p = publishers[k].get();
    swarm.StartPublishing(
        publisher_devices[k], o.window,
        [&, p](std::string* topic, std::string* payload) {
          int64_t now = MqttSwarm::NowNs();
          if (now >= deadline_ns) return false;
          size_t i = p->recipients[p->cursor++ % p->recipients.size()];
          int64_t n = next_n[i]++;
          json envelope = {{"seq", next_seq[i]++}, {"type", "message"},         {"from", "bench"},
                           {"kind", "text"},       {"body", BodyOf(0, n, now)}, {"ts", 0}};
          *topic = topics[i];
          *payload = envelope.dump();
          p->unacked.emplace_back(i, n);
          ++published;
          return true;
        },
        [&, p](int64_t) {
          // Mosquitto acknowledges one connection's QoS 1 publishes in order.
          auto [i, n] = p->unacked.front();
          p->unacked.pop_front();
          tracker.Accepted(i, 0, n);
          ++acked;
        });
  }
  while (MqttSwarm::NowNs() < deadline_ns)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const double send_s = SecondsSince(start);
  WaitDelivered(tracker, published.load(), o.settle_s);
  cpu.Stop();
  const InboxTracker::Totals totals = tracker.totals();
  const double deliver_s =
      std::max(1e-9, static_cast<double>(tracker.last_arrival_ns() - start_ns) / 1e9);
  r.Add("published", published.load());
  r.Add("acknowledged", acked.load());
  r.Add("acknowledged_msg_per_s", static_cast<double>(acked.load()) / send_s, 1);
  r.Add("delivered_msg_per_s", static_cast<double>(totals.delivered) / deliver_s, 1);
  AddLatencies(r, "latency", tracker.latencies());
  cpu.AddTo(r, totals.delivered);
  AddDeliveryCheck(r, totals);
  AddSwarmHealth(r, swarm);
  if (acked.load() == 0) r.Fail("no publish was acknowledged: " + swarm.last_error());
  return r;
}

Report RunGroup(const BenchOptions& o) {
  Report r;
  r.Add("scenario", "group");
  r.Add("members", o.members);
  r.Add("messages", o.group_messages);
  std::vector<std::string> members;
  for (int i = 0; i < o.members; ++i) members.push_back(UserName(o, "g", i));
  Progress("group: registering " + std::to_string(members.size()) + " members");
  if (!Registered(o, members, r)) return r;
  auto logins = LoggedIn(o, members, "bench-phone", r);
  if (!logins) return r;
  InboxTracker tracker(members.size(), /*track_spreads=*/true);
  MqttSwarm swarm(PushesTo(tracker));
  if (!ConnectAll(o, swarm, *logins, r)) return r;

  ApiSession session(o.base);
  const std::string group_id = o.run_id + "_group";
  const std::string owner_token = (*logins)[0].token;
  if (Status s = session.CreateGroup(owner_token, group_id,
                                     std::vector<std::string>(members.begin() + 1, members.end()));
      !s.ok()) {
    r.Fail("create group: " + s.ToString());
    return r;
  }
  // Every member's device has the group.created notification: the fan-out reaches all of them.
  auto ready_by = Clock::now() + std::chrono::seconds(30);
  auto all_notified = [&] {
    for (size_t d = 0; d < members.size(); ++d) {
      if (tracker.notifications(d) == 0) return false;
    }
    return true;
  };
  while (!all_notified() && Clock::now() < ready_by) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!all_notified()) {
    r.Fail("not every member got the group's creation within 30 s");
    return r;
  }

  Progress("group: " + std::to_string(o.group_messages) + " messages to " +
           std::to_string(members.size()) + " members, one at a time");
  int64_t accepted = 0;
  int64_t slow = 0;
  for (int n = 0; n < o.group_messages; ++n) {
    int64_t t0 = MqttSwarm::NowNs();
    auto sent = session.Send(owner_token, "group:" + group_id, CmidOf(o, 0, n), BodyOf(0, n, t0));
    if (!sent.ok()) {
      r.Fail("group send: " + sent.status().ToString());
      break;
    }
    ++accepted;
    for (size_t d = 0; d < members.size(); ++d) tracker.Accepted(d, 0, n);
    // The next message goes once this one reached everyone (at most 5 s), so each is measured
    // on its own.
    auto until = Clock::now() + std::chrono::seconds(5);
    while (tracker.delivered() < accepted * static_cast<int64_t>(members.size()) &&
           Clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    if (tracker.delivered() < accepted * static_cast<int64_t>(members.size())) ++slow;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  WaitDelivered(tracker, accepted * static_cast<int64_t>(members.size()), o.settle_s);
  Latencies everyone;
  int64_t incomplete = 0;
  for (const auto& [key, spread] : tracker.spreads()) {
    if (spread.devices < static_cast<int>(members.size())) ++incomplete;
    everyone.Add(spread.last_arrival_ns - spread.sent_ns);
  }
  r.Add("accepted", accepted);
  r.Add("messages_not_everywhere_in_5s", slow);
  AddLatencies(r, "all_members", everyone);
  AddLatencies(r, "latency", tracker.latencies());
  AddDeliveryCheck(r, tracker.totals());
  AddSwarmHealth(r, swarm);
  if (incomplete > 0) r.Fail(std::to_string(incomplete) + " messages missed members");
  return r;
}

Report RunOffline(const BenchOptions& o) {
  Report r;
  r.Add("scenario", "offline");
  r.Add("backlog", o.messages);
  const int threads = std::max(1, std::min(o.senders, o.messages));
  r.Add("senders", threads);
  std::vector<std::string> users;
  for (int i = 0; i < threads; ++i) users.push_back(UserName(o, "os", i));
  const std::string recipient = UserName(o, "or", 0);
  users.push_back(recipient);
  if (!Registered(o, users, r)) return r;
  users.pop_back();
  auto logins = LoggedIn(o, users, "bench-send", r);
  if (!logins) return r;
  InboxTracker tracker(1);
  Progress("offline: " + std::to_string(o.messages) + " messages to an offline user");
  std::vector<SenderTally> tallies(threads);
  std::vector<std::thread> pool;
  auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      ApiSession session(o.base);
      int count = o.messages / threads + (t < o.messages % threads ? 1 : 0);
      for (int64_t n = 0; n < count; ++n) {
        ++tallies[t].sent;
        auto sent = session.Send((*logins)[t].token, "user:" + recipient, CmidOf(o, t, n),
                                 BodyOf(t, n, MqttSwarm::NowNs()));
        if (!sent.ok()) {
          ++tallies[t].errors;
          tallies[t].last_error = sent.status().ToString();
          continue;
        }
        ++tallies[t].accepted;
        tracker.Accepted(0, t, n);
      }
    });
  }
  for (auto& t : pool) t.join();
  const double send_s = SecondsSince(start);
  int64_t accepted = 0;
  int64_t errors = 0;
  for (const SenderTally& t : tallies) {
    accepted += t.accepted;
    errors += t.errors;
  }
  r.Add("accepted", accepted);
  r.Add("send_errors", errors);
  r.Add("backlog_msg_per_s", static_cast<double>(accepted) / send_s, 1);

  // The measured part: log in, connect, sync everything.
  Progress("offline: logging in and syncing the backlog");
  MqttSwarm swarm(PushesTo(tracker));
  ApiSession session(o.base);
  const auto t0 = Clock::now();
  auto login = session.Login(recipient, o.password, "bench-phone");
  if (!login.ok()) {
    r.Fail("log in: " + login.status().ToString());
    return r;
  }
  const double login_ms = SecondsSince(t0) * 1000;
  swarm.Add(EndpointOf(o, *login, 0));
  if (!swarm.WaitSubscribed(1, std::chrono::seconds(10))) {
    r.Fail("the device did not subscribe: " + swarm.last_error());
    return r;
  }
  const double connect_ms = SecondsSince(t0) * 1000 - login_ms;
  int64_t after = 0;
  int pages = 0;
  int64_t items = 0;
  while (true) {
    auto page = session.Sync(login->token, after, 1000);
    if (!page.ok()) {
      r.Fail("sync: " + page.status().ToString());
      break;
    }
    ++pages;
    int64_t now = MqttSwarm::NowNs();
    for (const json& item : (*page)["items"]) {
      tracker.Synced(0, item, now);
      ++items;
    }
    after = page->value("next_after", after);
    if (!page->value("has_more", false) || pages > 10000) break;
  }
  const double total_s = SecondsSince(t0);
  r.Add("login_ms", login_ms, 1);
  r.Add("connect_ms", connect_ms, 1);
  r.Add("sync_pages", pages);
  r.Add("synced_items", items);
  r.Add("sync_s", total_s - (login_ms + connect_ms) / 1000, 3);
  r.Add("login_and_sync_s", total_s, 3);
  AddDeliveryCheck(r, tracker.totals());
  return r;
}

Report RunConnections(const BenchOptions& o) {
  Report r;
  r.Add("scenario", "connections");
  r.Add("devices", o.devices);
  std::vector<std::string> users;
  for (int i = 0; i < o.devices; ++i) users.push_back(UserName(o, "c", i));
  Progress("connections: registering " + std::to_string(users.size()) + " users");
  if (!Registered(o, users, r)) return r;
  if (!WaitForPhase(o, "registered", users.size(), "login", r)) return r;
  std::map<std::string, int64_t> before;
  for (const auto& [name, pid] : o.measure_pids) before[name] = RssKib(pid);
  // With --phase-dir, scripts/bench takes the connect rate of all processes from these times.
  const bool phased = !o.phase_dir.empty();
  auto start = Clock::now();
  if (phased) r.Add("login_start_unix_ms", UnixMillis());
  auto logins = LoggedIn(o, users, "bench-phone", r);
  if (!logins) return r;
  const double login_s = SecondsSince(start);
  r.Add("logins_per_s", static_cast<double>(users.size()) / login_s, 1);
  if (!WaitForPhase(o, "logged in", users.size(), "connect", r)) return r;
  Progress("connections: connecting " + std::to_string(users.size()) + " devices");
  MqttSwarm swarm([](size_t, std::string_view, std::string_view, int64_t) {});
  start = Clock::now();
  if (phased) r.Add("connect_start_unix_ms", UnixMillis());
  if (!ConnectAll(o, swarm, *logins, r)) return r;
  const double connect_s = SecondsSince(start);
  if (phased) r.Add("connect_end_unix_ms", UnixMillis());
  r.Add("connect_s", connect_s, 2);
  r.Add("connects_per_s", static_cast<double>(users.size()) / connect_s, 1);
  std::map<std::string, int> per_broker;
  for (size_t i = 0; i < logins->size(); ++i)
    ++per_broker[BrokerOf(EndpointOf(o, (*logins)[i], i))];
  r.Add("brokers", per_broker.size());

  // Idle for a moment, so what the broker and Redis keep per device is what stays.
  std::this_thread::sleep_for(std::chrono::seconds(3));
  int64_t device_bytes_total = 0;
  bool measured = false;
  for (const auto& [name, pid] : o.measure_pids) {
    int64_t after = RssKib(pid);
    if (after < 0 || before[name] < 0) {
      r.Fail("cannot read the memory of " + name + " (pid " + std::to_string(pid) + ")");
      continue;
    }
    double per_device = static_cast<double>(after - before[name]) * 1024 / o.devices;
    r.Add(name + "_rss_mib", static_cast<double>(after) / 1024, 1);
    r.Add(name + "_bytes_per_device", per_device, 0);
    if (name != "uplink") {
      device_bytes_total += static_cast<int64_t>(per_device);
      measured = true;
    }
  }
  if (measured) r.Add("memory_per_device_kb", static_cast<double>(device_bytes_total) / 1000, 2);

  // Presence is tracked: a sample of the users shows online.
  ApiSession session(o.base);
  int sample = std::min(o.devices, 50);
  std::string query;
  for (int i = 0; i < sample; ++i) {
    query += (i ? "," : "") + users[static_cast<size_t>(i) * users.size() / sample];
  }
  auto answer = session.Call("GET", "/v1/presence?users=" + query, "", (*logins)[0].token);
  int online = 0;
  json presence = json::parse(answer.body, nullptr, false);
  if (answer.status == 200 && presence.is_object()) {
    for (const auto& [user, state] : presence.items()) {
      if (state.is_object() && state.value("online", false)) ++online;
    }
  }
  r.Add("presence_sample", sample);
  r.Add("presence_online", online);
  if (online != sample) {
    r.Fail("presence shows " + std::to_string(online) + " of " + std::to_string(sample) +
           " sampled devices online (HTTP " + std::to_string(answer.status) + ")");
  }
  // Held until every process has its devices connected and the memory is measured.
  start = Clock::now();
  if (!WaitForPhase(o, "connected", swarm.subscribed(), "stop", r)) return r;
  if (phased) r.Add("held_s", SecondsSince(start), 1);
  r.Add("still_connected", swarm.subscribed());
  AddSwarmHealth(r, swarm);
  return r;
}

Report RunReconnectStorm(const BenchOptions& o) {
  Report r;
  r.Add("scenario", "reconnect-storm");
  r.Add("devices", o.devices);
  const int threads = std::max(1, std::min(o.senders, o.devices));
  std::vector<std::string> users;
  std::vector<std::string> senders;
  for (int i = 0; i < o.devices; ++i) users.push_back(UserName(o, "d", i));
  for (int i = 0; i < threads; ++i) senders.push_back(UserName(o, "ds", i));
  std::vector<std::string> all = users;
  all.insert(all.end(), senders.begin(), senders.end());
  Progress("reconnect-storm: registering " + std::to_string(all.size()) + " users");
  if (!Registered(o, all, r)) return r;
  auto logins = LoggedIn(o, users, "bench-phone", r);
  if (!logins) return r;
  auto sender_logins = LoggedIn(o, senders, "bench-send", r);
  if (!sender_logins) return r;
  InboxTracker tracker(users.size());
  MqttSwarm swarm(PushesTo(tracker));
  if (!ConnectAll(o, swarm, *logins, r)) return r;

  Progress("reconnect-storm: dropping every device");
  swarm.DropAll();
  auto until = Clock::now() + std::chrono::seconds(30);
  while (swarm.subscribed() > 0 && Clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (swarm.subscribed() > 0) {
    r.Fail(std::to_string(swarm.subscribed()) + " devices did not drop");
    return r;
  }
  // While they are away, one message to each.
  Progress("reconnect-storm: one message to each of the " + std::to_string(users.size()) +
           " offline users");
  std::vector<SenderTally> tallies(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      ApiSession session(o.base);
      for (int i = t; i < o.devices; i += threads) {
        ++tallies[t].sent;
        auto sent = session.Send((*sender_logins)[t].token, "user:" + users[i], CmidOf(o, t, i),
                                 BodyOf(t, 0, MqttSwarm::NowNs()));
        if (!sent.ok()) {
          ++tallies[t].errors;
          tallies[t].last_error = sent.status().ToString();
          continue;
        }
        ++tallies[t].accepted;
        tracker.Accepted(static_cast<size_t>(i), t, 0);
      }
    });
  }
  for (auto& t : pool) t.join();
  pool.clear();
  int64_t accepted = 0;
  for (const SenderTally& t : tallies) accepted += t.accepted;
  r.Add("accepted", accepted);

  // The storm: every device reconnects and syncs from its cursor, all at once.
  Progress("reconnect-storm: all reconnect and sync");
  const auto t0 = Clock::now();
  swarm.ReconnectAll();
  std::atomic<int> next{0};
  std::atomic<int64_t> sync_errors{0};
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      ApiSession session(o.base);
      for (int i = next++; i < o.devices; i = next++) {
        int64_t after = tracker.last_seq(static_cast<size_t>(i));
        for (int page = 0; page < 100; ++page) {
          auto answer = session.Sync((*logins)[i].token, after, 100);
          if (!answer.ok()) {
            ++sync_errors;
            break;
          }
          int64_t now = MqttSwarm::NowNs();
          for (const json& item : (*answer)["items"])
            tracker.Synced(static_cast<size_t>(i), item, now);
          after = answer->value("next_after", after);
          if (!answer->value("has_more", false)) break;
        }
      }
    });
  }
  for (auto& t : pool) t.join();
  const double synced_s = SecondsSince(t0);
  bool reconnected = swarm.WaitSubscribed(users.size(), std::chrono::seconds(120));
  const double reconnected_s = SecondsSince(t0);
  WaitDelivered(tracker, accepted, o.settle_s);
  r.Add("all_synced_s", synced_s, 2);
  r.Add("all_reconnected_s", reconnected_s, 2);
  r.Add("caught_up_s", std::max(synced_s, reconnected_s), 2);
  r.Add("sync_errors", sync_errors.load());
  if (!reconnected) r.Fail("only " + std::to_string(swarm.subscribed()) + " devices reconnected");
  if (sync_errors.load() > 0) r.Fail(std::to_string(sync_errors.load()) + " syncs failed");
  AddDeliveryCheck(r, tracker.totals());
  AddSwarmHealth(r, swarm);
  return r;
}

}  // namespace courier::bench
