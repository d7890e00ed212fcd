// courier-chaos: the reliability promise under faults, measured end to end (issue #3).
//
// It starts a whole stack (TestStack: Redis with AOF, Mosquitto with the plugin, the uplink, two
// downlinks), registers N users with SDK clients — most in this process, a few in a child
// process of their own — and has them send one-to-one messages to random peers while faults
// are injected on a schedule: kill -9 and restart of a downlink, of the uplink; restarts of
// Mosquitto and of Redis; clients dropping and reconnecting; clients offline for a while; the
// client process restarted from its persisted cursors. Then it lets everything settle and
// compares what every device delivered with what the server accepted:
//   lost        accepted messages a device of the recipient (or the sender's own copy) never
//               delivered
//   duplicated  messages a device delivered more than once
//   out_of_order  deliveries whose seq did not grow by exactly one, per device
// and exits non-zero unless all three are 0. Every loop is bounded in count and time.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "client/courier_client.h"
#include "common/log.h"
#include "tests/support/courier_api.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"
#include "tests/support/test_stack.h"

namespace courier::chaos {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::atomic<bool> g_stop{false};

std::string Password(const std::string& user) { return "chaos-pw-" + user; }

// One delivered inbox entry, as a device saw it.
struct Delivery {
  int64_t seq = 0;
  std::string id;
};

// Deliveries of every device, thread-safe.
class DeliveryLog {
 public:
  void Add(const std::string& user, const json& env) {
    std::lock_guard lock(mu_);
    by_user_[user].push_back({env.value("seq", int64_t{0}), env.value("id", std::string())});
  }
  void AddAll(const std::string& user, const std::vector<Delivery>& ds) {
    std::lock_guard lock(mu_);
    auto& v = by_user_[user];
    v.insert(v.end(), ds.begin(), ds.end());
  }
  std::map<std::string, std::vector<Delivery>> Snapshot() const {
    std::lock_guard lock(mu_);
    return by_user_;
  }
  size_t CountFor(const std::string& user) const {
    std::lock_guard lock(mu_);
    auto it = by_user_.find(user);
    return it == by_user_.end() ? 0 : it->second.size();
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::vector<Delivery>> by_user_;
};

struct Accepted {
  std::string id, from, to;
};

client::ClientOptions ClientOptionsFor(const std::string& url, const std::string& state_dir) {
  client::ClientOptions o;
  o.base_url = url;
  o.state_dir = state_dir;
  o.ack_interval = 1000ms;
  o.send_deadline = 60s;
  o.reconnect.initial = 200ms;
  o.reconnect.max = 3000ms;
  return o;
}

// An in-process device: an SDK client that logs what it delivers.
class Device {
 public:
  Device(std::string user, std::string url, std::string state_dir, DeliveryLog* log)
      : user_(std::move(user)), url_(std::move(url)), state_dir_(std::move(state_dir)), log_(log) {}

  // Logs in and starts the SDK; a restarted device logs in again on the same device, which
  // replaces its own session silently (SPEC §3 single sign-on), and resumes from its cursor.
  // False with a message on failure.
  bool Start(std::string* error) {
    std::lock_guard lock(mu_);
    if (client_) return true;
    auto c = std::make_unique<client::Client>(ClientOptionsFor(url_, state_dir_));
    c->on_message = [this](const json& env) { log_->Add(user_, env); };
    auto l = c->Login(user_, Password(user_), "dev", "cli");
    if (!l.ok()) {
      *error = l.status().ToString();
      return false;
    }
    if (Status s = c->Start(); !s.ok()) {
      *error = s.ToString();
      return false;
    }
    client_ = std::move(c);
    return true;
  }

  void Stop() {
    std::unique_ptr<client::Client> c;
    {
      std::lock_guard lock(mu_);
      c = std::move(client_);
    }
    if (c) c->Stop();
  }

  bool running() const {
    std::lock_guard lock(mu_);
    return client_ != nullptr;
  }

  const std::string& user() const { return user_; }

 private:
  std::string user_, url_, state_dir_;
  DeliveryLog* log_;
  mutable std::mutex mu_;
  std::unique_ptr<client::Client> client_;  // GUARDED_BY(mu_)
};

// --- Child-process role: host some users' devices, append deliveries to files. -----------

int RunClientProcess(const std::string& url, const std::string& state_dir,
                     const std::string& log_dir, const std::vector<std::string>& users) {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  std::vector<std::unique_ptr<client::Client>> clients;
  std::vector<std::unique_ptr<std::ofstream>> logs;
  for (const auto& u : users) {
    auto out = std::make_unique<std::ofstream>(log_dir + "/" + u + ".deliveries", std::ios::app);
    auto c = std::make_unique<client::Client>(ClientOptionsFor(url, state_dir));
    std::ofstream* o = out.get();
    c->on_message = [o](const json& env) {
      *o << env.value("seq", int64_t{0}) << ' ' << env.value("id", std::string()) << '\n';
      o->flush();  // before the SDK saves its cursor for this entry
    };
    auto l = c->Login(u, Password(u), "dev", "cli");
    if (!l.ok() || !c->Start().ok()) {
      std::cerr << "client process: cannot start " << u << "\n";
      return 1;
    }
    clients.push_back(std::move(c));
    logs.push_back(std::move(out));
  }
  std::cerr << "client process ready with " << users.size() << " devices\n";
  int sig = 0;
  sigwait(&stop, &sig);
  for (auto& c : clients) c->Stop();  // saves every cursor
  return 0;
}

std::vector<Delivery> ReadDeliveryFile(const std::string& path) {
  std::vector<Delivery> out;
  std::ifstream in(path);
  Delivery d;
  while (in >> d.seq >> d.id) out.push_back(d);
  return out;
}

// --- The run. --------------------------------------------------------------------------------

struct Options {
  int users = 50;
  int duration_s = 150;  // faults and traffic; then up to settle_s to settle
  int settle_s = 30;
  int child_users = 5;
  int send_threads = 4;
  int send_pause_ms = 150;  // per sender thread between sends
  uint64_t seed = 0;
  bool keep = false;
};

int Run(const Options& opt, const std::string& self) {
  auto started = Clock::now();
  std::mt19937_64 rng(opt.seed ? opt.seed : std::random_device{}());
  auto say = [&](const std::string& what) {
    auto s = std::chrono::duration<double>(Clock::now() - started).count();
    std::fprintf(stderr, "[chaos %6.1fs] %s\n", s, what.c_str());
  };

  say("starting the stack (Redis AOF, Mosquitto + plugin, uplink, 2 downlinks)");
  testing::TestStackOptions so;
  so.log_level = "info";
  so.downlink_args = {"--claim-idle-ms", "3000"};
  testing::TestStack stack(so);
  if (Status s = stack.StartExtraDownlink(); !s.ok()) {
    std::cerr << "second downlink: " << s.ToString() << "\n";
    return 2;
  }
  const std::string url = stack.http_url();
  const std::string state_dir = stack.data_dir() + "/clients";
  const std::string log_dir = stack.data_dir() + "/deliveries";
  std::filesystem::create_directories(state_dir);
  std::filesystem::create_directories(log_dir);

  testing::HttpClient http(stack.http_port());
  std::vector<std::string> users;
  for (int i = 0; i < opt.users; ++i) {
    std::string u = "chaos" + std::to_string(i);
    auto r = http.Post("/v1/users", {{"user_id", u}, {"password", Password(u)}});
    if (r.status != 201) {
      std::cerr << "register " << u << ": " << r.Describe() << "\n";
      return 2;
    }
    users.push_back(u);
  }
  // The last child_users users live in a separate client process.
  int in_process = std::max(0, opt.users - opt.child_users);
  std::vector<std::string> child_users(users.begin() + in_process, users.end());

  DeliveryLog deliveries;
  std::vector<std::unique_ptr<Device>> devices;
  for (int i = 0; i < in_process; ++i) {
    devices.push_back(std::make_unique<Device>(users[i], url, state_dir, &deliveries));
    std::string err;
    if (!devices.back()->Start(&err)) {
      std::cerr << "start " << users[i] << ": " << err << "\n";
      return 2;
    }
  }
  std::string joined;
  for (const auto& u : child_users) joined += (joined.empty() ? "" : ",") + u;
  testing::ChildProcess child;
  testing::ChildSpec child_spec{{self, "--client-process", "--url", url, "--state-dir", state_dir,
                                 "--log-dir", log_dir, "--users-list", joined},
                                {},
                                {},
                                stack.data_dir() + "/logs/chaos-clients.log"};
  if (!child_users.empty()) {
    if (Status s = child.Start(child_spec); !s.ok()) {
      std::cerr << "client process: " << s.ToString() << "\n";
      return 2;
    }
  }
  say("registered " + std::to_string(opt.users) + " users (" + std::to_string(child_users.size()) +
      " in a separate client process)");

  // Senders: each thread has its own SDK client per sending user (a Client is one device; sends
  // from several threads are allowed, but one client per user keeps the sender's log simple).
  std::mutex accepted_mu;
  std::map<std::string, Accepted> accepted;  // by cmid
  std::atomic<int64_t> sent{0}, failed{0};
  std::atomic<bool> sending{true};
  std::vector<std::thread> senders;
  for (int t = 0; t < opt.send_threads; ++t) {
    senders.emplace_back([&, t] {
      std::mt19937_64 r(rng() + t);
      // Each sender thread owns the users i with i % threads == t (so one user's sends are
      // sequential, which is what "one after another" means in SPEC §1.3).
      std::vector<std::pair<std::string, std::unique_ptr<client::Client>>> mine;
      for (int i = t; i < opt.users; i += opt.send_threads) {
        auto c = std::make_unique<client::Client>(ClientOptionsFor(url, ""));
        if (!c->Login(users[i], Password(users[i]), "sender", "desktop").ok()) continue;
        mine.emplace_back(users[i], std::move(c));
      }
      int n = 0;
      while (sending && !g_stop && !mine.empty()) {
        auto& [from, c] = mine[r() % mine.size()];
        std::string to = users[r() % users.size()];
        std::string cmid = client::NewCmid();
        ++sent;
        auto res = c->SendWithCmid("user:" + to, cmid, json{{"n", n++}});
        if (res.ok()) {
          std::lock_guard lock(accepted_mu);
          accepted[cmid] = {res->id, from, to};
        } else {
          ++failed;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(opt.send_pause_ms));
      }
    });
  }

  // Faults on a schedule, from this (the stack's) thread.
  int faults = 0;
  std::vector<std::function<void()>> schedule = {
      [&] { say("fault: kill -9 downlink, restart"); stack.KillDownlink();
            std::this_thread::sleep_for(1s); (void)stack.StartDownlink(); },
      [&] { say("fault: 5 clients drop and reconnect");
            for (int k = 0; k < 5 && !devices.empty(); ++k) {
              auto& d = devices[rng() % devices.size()];
              d->Stop();
              std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 1000));
              std::string e;
              d->Start(&e);
            } },
      [&] { say("fault: kill -9 uplink, restart"); stack.KillUplink();
            std::this_thread::sleep_for(1s); (void)stack.StartUplink(); },
      [&] { say("fault: client process restarted from its cursors");
            child.Stop(); (void)child.Start(child_spec); },
      [&] { say("fault: restart Mosquitto"); (void)stack.RestartBroker(); },
      [&] { say("fault: 5 clients offline for a while (until the next-but-one fault)");
            for (int k = 0; k < 5 && !devices.empty(); ++k) devices[rng() % devices.size()]->Stop(); },
      [&] { say("fault: restart Redis (AOF)"); (void)stack.RestartRedis(); },
      [&] { say("fault: offline clients come back");
            for (auto& d : devices) { std::string e; d->Start(&e); } },
  };
  auto fault_every = std::chrono::milliseconds(opt.duration_s * 1000 / (int)schedule.size() / 2);
  auto traffic_end = started + std::chrono::seconds(opt.duration_s);
  size_t next = 0;
  while (Clock::now() < traffic_end && !g_stop) {
    std::this_thread::sleep_for(fault_every);
    if (Clock::now() >= traffic_end) break;
    schedule[next++ % schedule.size()]();
    ++faults;
  }
  say("traffic stops; settling");
  sending = false;
  for (auto& t : senders) t.join();
  // Everything back up.
  for (auto c : {testing::Component::kRedis, testing::Component::kBroker,
                 testing::Component::kUplink, testing::Component::kDownlink}) {
    (void)stack.Start(c);
  }
  for (auto& d : devices) {
    std::string e;
    if (!d->Start(&e)) say("restart " + d->user() + ": " + e);
  }
  if (!child.Running() && !child_users.empty()) (void)child.Start(child_spec);

  // Expected deliveries per user: each accepted message to its recipient and, as the sender's
  // own copy, to its sender (once when they are the same user).
  std::map<std::string, std::set<std::string>> expected;
  {
    std::lock_guard lock(accepted_mu);
    for (const auto& [cmid, a] : accepted) {
      expected[a.to].insert(a.id);
      expected[a.from].insert(a.id);
    }
  }
  auto collect = [&] {
    auto all = deliveries.Snapshot();
    for (const auto& u : child_users) all[u] = ReadDeliveryFile(log_dir + "/" + u + ".deliveries");
    return all;
  };
  auto settle_end = Clock::now() + std::chrono::seconds(opt.settle_s);
  std::map<std::string, std::vector<Delivery>> all;
  while (Clock::now() < settle_end && !g_stop) {
    all = collect();
    bool done = true;
    for (const auto& [u, ids] : expected) {
      std::set<std::string> got;
      for (const auto& d : all[u]) got.insert(d.id);
      for (const auto& id : ids) done = done && got.count(id);
      if (!done) break;
    }
    if (done) break;
    std::this_thread::sleep_for(500ms);
  }
  child.Stop();
  for (auto& d : devices) d->Stop();
  all = collect();

  int64_t delivered = 0, lost = 0, duplicated = 0, out_of_order = 0;
  for (const auto& [u, ds] : all) {
    std::set<std::string> seen;
    int64_t prev = 0;
    for (const auto& d : ds) {
      ++delivered;
      if (!seen.insert(d.id).second) ++duplicated;
      if (prev != 0 && d.seq != prev + 1) ++out_of_order;
      prev = d.seq;
    }
    auto it = expected.find(u);
    if (it != expected.end()) {
      for (const auto& id : it->second) lost += seen.count(id) ? 0 : 1;
    }
  }
  double duration = std::chrono::duration<double>(Clock::now() - started).count();
  std::printf("users: %d\nsent: %lld\naccepted: %zu\nsend_failed: %lld\ndelivered: %lld\n",
              opt.users, static_cast<long long>(sent.load()), accepted.size(),
              static_cast<long long>(failed.load()), static_cast<long long>(delivered));
  std::printf("lost: %lld\nduplicated: %lld\nout_of_order: %lld\nfaults_injected: %d\n"
              "duration_s: %.1f\n",
              static_cast<long long>(lost), static_cast<long long>(duplicated),
              static_cast<long long>(out_of_order), faults, duration);
  if (opt.keep) std::fprintf(stderr, "stack data and logs kept in %s\n", stack.data_dir().c_str());
  return lost == 0 && duplicated == 0 && out_of_order == 0 && !accepted.empty() ? 0 : 1;
}

}  // namespace

}  // namespace courier::chaos

int main(int argc, char** argv) {
  using namespace courier::chaos;
  CLI::App app{"courier-chaos: messages under faults; counts lost, duplicated, out of order"};
  Options opt;
  bool client_process = false;
  std::string url, state_dir, log_dir, users;
  app.add_option("--users", opt.users, "users (at least 2)")->capture_default_str();
  app.add_option("--duration", opt.duration_s, "seconds of traffic and faults")
      ->capture_default_str();
  app.add_option("--settle", opt.settle_s, "longest wait for deliveries after the traffic")
      ->capture_default_str();
  app.add_option("--child-users", opt.child_users, "users hosted in a separate client process")
      ->capture_default_str();
  app.add_option("--send-threads", opt.send_threads, "sender threads")->capture_default_str();
  app.add_option("--send-pause-ms", opt.send_pause_ms, "pause between a thread's sends")
      ->capture_default_str();
  app.add_option("--seed", opt.seed, "random seed (0: random)");
  app.add_flag("--keep", opt.keep, "keep the stack's data and logs (COURIER_KEEP_TEST_DIRS)");
  app.add_flag("--client-process", client_process)->group("");  // internal: the child role
  app.add_option("--url", url)->group("");
  app.add_option("--state-dir", state_dir)->group("");
  app.add_option("--log-dir", log_dir)->group("");
  app.add_option("--users-list", users)->group("");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  if (client_process) {
    std::vector<std::string> list;
    std::stringstream ss(users);
    for (std::string u; std::getline(ss, u, ',');) list.push_back(u);
    return RunClientProcess(url, state_dir, log_dir, list);
  }
  if (opt.users < 2 || opt.duration_s < 10 || opt.duration_s > 3600 || opt.child_users < 0 ||
      opt.child_users >= opt.users || opt.send_threads < 1 || opt.settle_s < 1) {
    std::cerr << "bad arguments; see --help\n";
    return 2;
  }
  if (opt.keep) setenv("COURIER_KEEP_TEST_DIRS", "1", 1);
  signal(SIGINT, [](int) { g_stop = true; });
  return Run(opt, std::filesystem::read_symlink("/proc/self/exe").string());
}
