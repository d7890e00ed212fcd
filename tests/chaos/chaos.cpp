// courier-chaos: the reliability promise under faults, measured end to end (issue #3), for
// one-to-one messages, group messages and the group notifications.
//
// It starts a whole stack (TestStack: Redis with AOF, Mosquitto with the plugin, the uplink, two
// downlinks — each also runs the group fan-out worker), registers N users with SDK devices —
// most in this process, a few in a child process of their own — and creates a few groups among
// them (GroupChurn, group_churn.h). Each group has core members, the owner among them, who stay
// all along, and churn members whom a membership thread of the group removes (or who leave) and
// adds back every few seconds, sometimes twice or three times within milliseconds. Sender
// threads send one-to-one messages to random peers and, mixed in, messages to groups the sender
// is in (a churn member only while the thread last put it in, plus now and then one it expects
// to be refused: 403 not_member does not count as accepted). Meanwhile faults are injected on a
// schedule: kill -9 and restart of a downlink, of the uplink; both downlinks frozen for 3 s (the
// fan-out stalls while memberships keep changing, so it meets several memberships of one user
// at once); restarts of Mosquitto and of Redis; clients dropping and reconnecting; clients
// offline for a while; the client process restarted from its persisted cursors. Then it lets
// everything settle and checks what every device delivered (messages and notifications, as the
// SDK hands them to the app; chaos_check.h has the exact rules):
//   - every device's inbox: seq 1, 2, 3, ... with no entry twice;
//   - every accepted one-to-one message, at its recipient and as its sender's own copy;
//   - every accepted group message at every core member, in conv_seq order, and the group's
//     membership changes, exactly as the thread made them, in order;
//   - each other member (churn or core) delivered exactly the group's entries inside its
//     membership intervals (from its group.member_added to its group.member_removed / _left), in
//     the group's order: a gap in an interval is lost, a repeat duplicated, a step back
//     out_of_order, an entry from outside the intervals unexpected.
// It prints key: value figures and exits non-zero unless lost, duplicated, out_of_order and
// unexpected are all 0 (it also fails if nothing, or no group message, was accepted, or a
// membership change could not be made). A failed run (or one with --keep) keeps the stack's
// directory with an evidence/ folder: every device's deliveries, each group's timed changes and
// the findings. Every loop is bounded in count and time.
//
// With --cluster it runs on the clustered stack (TestStack's cluster topology: a Redis Cluster of
// 3 masters with a replica each, 3 brokers with users assigned by hash, 2 downlinks sharing the
// delivery shards) plus a second uplink, the clients split between the two uplinks; the faults
// that act on one process pick one of a tier: kill -9 of one Redis master (its replica is
// promoted; the old master rejoins as a replica), of one broker, of one uplink, of one downlink.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "client/courier_client.h"
#include "common/log.h"
#include "tests/chaos/chaos_check.h"
#include "tests/chaos/delivery_record.h"
#include "tests/chaos/group_churn.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"
#include "tests/support/redis_cluster.h"
#include "tests/support/test_stack.h"

namespace courier::chaos {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::atomic<bool> g_stop{false};

std::string Password(const std::string& user) { return "chaos-pw-" + user; }

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

// An in-process device: an SDK client that logs every inbox entry it delivers.
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
    c->on_message = [this](const json& env) { log_->Add(user_, DeliveryOf(env)); };
    c->on_notification = c->on_message;
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
      *o << EncodeDelivery(DeliveryOf(env)) << '\n';
      o->flush();  // before the SDK saves its cursor for this entry
    };
    c->on_notification = c->on_message;
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

// --- The run. --------------------------------------------------------------------------------

struct Options {
  int users = 50;
  int duration_s = 150;  // faults and traffic; then up to settle_s to settle
  int settle_s = 30;
  int child_users = 5;
  int send_threads = 4;
  int send_pause_ms = 150;  // per sender thread between sends
  int groups = 3;
  int group_size = 14;        // the first group's; each next one 2 smaller (at least 3)
  int group_share = 40;       // % of a group member's sends that go to a group
  int churn_every_ms = 1500;  // per group, between membership changes (± half)
  uint64_t seed = 0;
  bool keep = false;
  bool cluster = false;  // the clustered stack, two uplinks
};

// What the sender threads did.
struct SendLog {
  std::mutex mu;
  std::map<std::string, Accepted> direct;                  // by cmid; GUARDED_BY(mu)
  std::map<std::string, std::vector<GroupMessage>> group;  // by group id; GUARDED_BY(mu)
  std::atomic<int64_t> sent{0}, failed{0}, group_sent{0}, group_not_member{0};
  std::atomic<int> failures_logged{0};
};

// How often the traffic phase and the settling say how far they are.
constexpr auto kProgressEvery = std::chrono::seconds(30);
constexpr auto kSettleProgressEvery = std::chrono::seconds(5);

// "45 s", "3 min", "1 h 05 min": a rough length for progress lines.
std::string RoughDuration(int64_t s) {
  char out[32];
  if (s < 60) {
    std::snprintf(out, sizeof out, "%lld s", static_cast<long long>(s));
  } else if (s < 3600) {
    std::snprintf(out, sizeof out, "%lld min", static_cast<long long>((s + 30) / 60));
  } else {
    std::snprintf(out, sizeof out, "%lld h %02lld min", static_cast<long long>(s / 3600),
                  static_cast<long long>((s % 3600 + 30) / 60));
  }
  return out;
}

int Run(const Options& opt, const std::string& self) {
  auto started = Clock::now();
  const uint64_t seed = opt.seed ? opt.seed : std::random_device{}();
  std::mt19937_64 rng(seed);
  auto say = [&](const std::string& what) {
    auto s = std::chrono::duration<double>(Clock::now() - started).count();
    std::fprintf(stderr, "[chaos %6.1fs] %s\n", s, what.c_str());
  };

  // Both phases are bounded in time, so the plan is known up front: the traffic ends
  // duration_s after this start (start-up included), the settling within settle_s after that.
  say("plan: start-up, then traffic and faults until " + std::to_string(opt.duration_s) +
      " s from now, then at most " + std::to_string(opt.settle_s) +
      " s for the last deliveries: done in about " + RoughDuration(opt.duration_s) + " to " +
      RoughDuration(opt.duration_s + opt.settle_s) + ", plus the final checks");
  say(opt.cluster
          ? "starting the clustered stack (Redis Cluster 3 masters + 3 replicas, 3 brokers, "
            "2 uplinks, 2 downlinks); seed " +
                std::to_string(seed)
          : "starting the stack (Redis AOF, Mosquitto + plugin, uplink, 2 downlinks); seed " +
                std::to_string(seed));
  testing::TestStackOptions so;
  so.topology = opt.cluster ? testing::Topology::kCluster : testing::Topology::kSingle;
  so.log_level = "info";
  so.downlink_args = {"--claim-idle-ms", "3000"};
  testing::TestStack stack(so);
  // Clients split between the uplinks: index i uses urls[i % urls.size()].
  std::vector<std::string> urls = {stack.http_url()};
  if (opt.cluster) {
    // The topology's two downlinks are there; a second uplink is added.
    Result<int> second = stack.StartExtraUplink();
    if (!second.ok()) {
      std::cerr << "second uplink: " << second.status().ToString() << "\n";
      return 2;
    }
    urls.push_back("http://127.0.0.1:" + std::to_string(*second));
  } else if (Status s = stack.StartExtraDownlink(); !s.ok()) {
    std::cerr << "second downlink: " << s.ToString() << "\n";
    return 2;
  }
  const std::string url = urls.back();  // the client process's
  const std::string state_dir = stack.data_dir() + "/clients";
  const std::string log_dir = stack.data_dir() + "/deliveries";
  std::filesystem::create_directories(state_dir);
  std::filesystem::create_directories(log_dir);

  testing::HttpClient http(stack.http_port());
  http.set_timeout(5s);
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
    devices.push_back(
        std::make_unique<Device>(users[i], urls[i % urls.size()], state_dir, &deliveries));
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

  // Groups: random members (the first is the owner), the last third of them churn.
  ChurnSessions churn_sessions(&http, Password);
  std::vector<std::unique_ptr<GroupChurn>> groups;
  std::map<std::string, std::vector<GroupChurn*>> groups_of;  // user -> the groups it is in
  int group_members = 0;
  for (int i = 0; i < opt.groups; ++i) {
    int size = std::clamp(opt.group_size - 2 * i, 3, opt.users);
    std::vector<std::string> pool = users;
    std::shuffle(pool.begin(), pool.end(), rng);
    GroupChurnOptions go;
    go.group_id = "chaos-g" + std::to_string(i);
    go.members.assign(pool.begin(), pool.begin() + size);
    go.churn = std::max(1, size / 3);
    go.every = std::chrono::milliseconds(opt.churn_every_ms);
    go.max_changes = std::max(1, opt.duration_s * 2000 / std::max(1, opt.churn_every_ms));
    go.seed = rng();
    go.started = started;
    auto g = std::make_unique<GroupChurn>(&http, &churn_sessions, go, say);
    if (Status s = g->Create(); !s.ok()) {
      std::cerr << s.ToString() << "\n";
      return 2;
    }
    std::string core, churn;
    for (const auto& u : g->spec().members) {
      groups_of[u].push_back(g.get());
      bool is_core = std::count(g->spec().core.begin(), g->spec().core.end(), u) > 0;
      (is_core ? core : churn) += " " + u;
    }
    group_members += size;
    say("group " + go.group_id + ": core" + core + "; churn" + churn);
    groups.push_back(std::move(g));
  }

  // Senders: each thread has its own SDK client per sending user (a Client is one device; sends
  // from several threads are allowed, but one client per user keeps the sender's log simple).
  SendLog sends;
  std::atomic<bool> sending{true};
  std::vector<std::thread> senders;
  for (int t = 0; t < opt.send_threads; ++t) {
    senders.emplace_back([&, t, thread_seed = rng()] {
      std::mt19937_64 r(thread_seed);
      // Each sender thread owns the users i with i % threads == t (so one user's sends are
      // sequential, which is what "one after another" means in SPEC §1.3).
      std::vector<std::pair<std::string, std::unique_ptr<client::Client>>> mine;
      for (int i = t; i < opt.users; i += opt.send_threads) {
        auto c = std::make_unique<client::Client>(ClientOptionsFor(urls[t % urls.size()], ""));
        if (!c->Login(users[i], Password(users[i]), "sender", "desktop").ok()) continue;
        mine.emplace_back(users[i], std::move(c));
      }
      int n = 0;
      while (sending && !g_stop && !mine.empty()) {
        auto& [from, c] = mine[r() % mine.size()];
        GroupChurn* group = nullptr;
        if (auto it = groups_of.find(from);
            it != groups_of.end() && static_cast<int>(r() % 100) < opt.group_share) {
          GroupChurn* g = it->second[r() % it->second.size()];
          // Now and then one the sender expects to be refused.
          if (g->MaySend(from) || r() % 5 == 0) group = g;
        }
        std::string to = group ? "group:" + group->spec().id : "user:" + users[r() % users.size()];
        std::string cmid = client::NewCmid();
        ++sends.sent;
        if (group) ++sends.group_sent;
        auto res = c->SendWithCmid(to, cmid, json{{"n", n++}});
        if (res.ok()) {
          std::lock_guard lock(sends.mu);
          if (group) {
            sends.group[group->spec().id].push_back({res->id, res->conv_seq});
          } else {
            sends.direct[cmid] = {res->id, from, to.substr(5)};
          }
        } else if (group && !group->IsCore(from) &&
                   res.status().code() == Status::Code::kNotMember) {
          ++sends.group_not_member;  // a churn member the thread just took out
        } else {
          ++sends.failed;
          if (sends.failures_logged++ < 10)
            say("send " + from + " → " + to + ": " + res.status().ToString());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(opt.send_pause_ms));
      }
    });
  }
  for (auto& g : groups) g->Start();

  // Faults on a schedule, from this (the stack's) thread.
  int faults = 0;
  int master_kills = 0;
  std::vector<std::function<void()>> schedule = {
      [&] {
        // The main downlink; the other one takes its shards over once the leases run out.
        say("fault: kill -9 a downlink, restart");
        stack.process(testing::Component::kDownlink).Kill();
        std::this_thread::sleep_for(1s);
        (void)stack.StartDownlink();
      },
      [&] {
        say("fault: 5 clients drop and reconnect");
        for (int k = 0; k < 5 && !devices.empty(); ++k) {
          auto& d = devices[rng() % devices.size()];
          d->Stop();
          std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 1000));
          std::string e;
          d->Start(&e);
        }
      },
      [&] {
        // With --cluster the clients of the other uplink go on meanwhile.
        say("fault: kill -9 an uplink, restart");
        stack.KillUplink();
        std::this_thread::sleep_for(1s);
        (void)stack.StartUplink();
      },
      [&] {
        say("fault: both downlinks frozen for 3 s (SIGSTOP): fan-out and pushes stall");
        std::vector<testing::ChildProcess*> downlinks =
            stack.processes(testing::Component::kDownlink);
        for (auto& p : stack.extra_downlinks()) downlinks.push_back(p.get());
        for (auto* p : downlinks) p->Signal(SIGSTOP);
        std::this_thread::sleep_for(3s);
        for (auto* p : downlinks) p->Signal(SIGCONT);
      },
      [&] {
        say("fault: client process restarted from its cursors");
        child.Stop();
        (void)child.Start(child_spec);
      },
      [&] {
        if (!opt.cluster) {
          say("fault: restart Mosquitto");
          (void)stack.RestartBroker();
          return;
        }
        // One broker of the list: its devices reconnect to it once it is back.
        size_t b = rng() % stack.broker_count();
        say("fault: kill -9 broker " + std::to_string(b) + " (port " +
            std::to_string(stack.broker_port(b)) + "), restart");
        stack.broker_process(b).Kill();
        std::this_thread::sleep_for(1s);
        (void)stack.StartBroker();
      },
      [&] {
        say("fault: 5 clients offline for a while (until the next-but-one fault)");
        for (int k = 0; k < 5 && !devices.empty(); ++k) devices[rng() % devices.size()]->Stop();
      },
      [&] {
        if (!opt.cluster) {
          say("fault: restart Redis (AOF)");
          (void)stack.RestartRedis();
          return;
        }
        // One master, picked by a random slot: its replica is promoted by the cluster itself;
        // the old master is started again and rejoins as a replica of its successor.
        testing::RedisCluster& cluster = *stack.redis_cluster();
        Result<size_t> master = cluster.MasterOfSlot(static_cast<uint16_t>(rng() % 16384));
        if (!master.ok()) {
          say("fault skipped: no master found: " + master.status().ToString());
          return;
        }
        say("fault: kill -9 Redis master node " + std::to_string(*master) + " (port " +
            std::to_string(cluster.port(*master)) + ")");
        auto killed = Clock::now();
        cluster.Kill(*master);
        Status stable = cluster.WaitForStable(std::chrono::seconds(30));
        auto took = std::chrono::duration<double>(Clock::now() - killed).count();
        char after[32];
        std::snprintf(after, sizeof after, "%.1f s", took);
        say(stable.ok() ? std::string("  its replica took over after ") + after
                        : "  no takeover within 30 s: " + stable.ToString());
        Status back = cluster.Start(*master);
        if (back.ok()) back = cluster.WaitForStable(std::chrono::seconds(30));
        say(back.ok() ? "  the old master is back as a replica"
                      : "  the old master did not rejoin: " + back.ToString());
        ++master_kills;
      },
      [&] {
        say("fault: offline clients come back");
        for (auto& d : devices) {
          std::string e;
          d->Start(&e);
        }
      },
  };
  auto fault_every = std::chrono::milliseconds(opt.duration_s * 1000 / (int)schedule.size() / 2);
  auto traffic_end = started + std::chrono::seconds(opt.duration_s);
  size_t next = 0;
  auto last_progress = Clock::now();
  while (Clock::now() < traffic_end && !g_stop) {
    std::this_thread::sleep_for(fault_every);
    if (Clock::now() >= traffic_end) break;
    schedule[next++ % schedule.size()]();
    ++faults;
    if (Clock::now() - last_progress >= kProgressEvery) {
      last_progress = Clock::now();
      auto traffic_left =
          std::chrono::duration_cast<std::chrono::seconds>(traffic_end - Clock::now());
      say("progress: " + std::to_string(faults) + " faults, " + std::to_string(sends.sent.load()) +
          " sends so far; " + RoughDuration(std::max<int64_t>(0, traffic_left.count())) +
          " of traffic left, then at most " + std::to_string(opt.settle_s) + " s settling");
    }
  }
  say("traffic stops; settling (at most " + std::to_string(opt.settle_s) + " s)");
  sending = false;
  // Everything back up, then the senders' and membership threads' last requests can finish.
  for (auto c : {testing::Component::kRedis, testing::Component::kBroker,
                 testing::Component::kUplink, testing::Component::kDownlink}) {
    (void)stack.Start(c);
  }
  for (auto& g : groups) g->Stop();
  for (auto& t : senders) t.join();
  for (auto& d : devices) {
    std::string e;
    if (!d->Start(&e)) say("restart " + d->user() + ": " + e);
  }
  if (!child.Running() && !child_users.empty()) (void)child.Start(child_spec);

  // Expected one-to-one deliveries per user: each accepted message to its recipient and, as the
  // sender's own copy, to its sender (once when they are the same user).
  std::map<std::string, std::set<std::string>> expected;
  for (const auto& [cmid, a] : sends.direct) {
    expected[a.to].insert(a.id);
    expected[a.from].insert(a.id);
  }
  std::map<std::string, std::vector<MembershipChange>> changes;
  for (const auto& g : groups) changes[g->spec().id] = g->changes();
  auto collect = [&] {
    auto all = deliveries.Snapshot();
    for (const auto& u : child_users) all[u] = ReadDeliveryFile(log_dir + "/" + u + ".deliveries");
    return all;
  };
  auto check = [&](const DeliveriesByUser& all) {
    Tally t = CheckInboxes(all);
    t.Add(CheckDirect(expected, all));
    for (const auto& g : groups) {
      const auto& id = g->spec().id;
      t.Add(CheckGroup(g->spec(), g->complete() ? &changes[id] : nullptr, sends.group[id], all));
    }
    return t;
  };
  auto settle_start = Clock::now();
  auto settle_end = settle_start + std::chrono::seconds(opt.settle_s);
  last_progress = settle_start;
  while (Clock::now() < settle_end && !g_stop) {
    int64_t missing = check(collect()).lost;
    if (missing == 0) break;
    if (Clock::now() - last_progress >= kSettleProgressEvery) {
      last_progress = Clock::now();
      auto waited = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - settle_start);
      say("settling: " + std::to_string(missing) + " deliveries still missing after " +
          std::to_string(waited.count()) + " s (gives up after " + std::to_string(opt.settle_s) +
          " s)");
    }
    std::this_thread::sleep_for(500ms);
  }
  auto settled = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - settle_start);
  say("settling over after " + std::to_string(settled.count()) +
      " s; checking every device's deliveries");
  child.Stop();
  for (auto& d : devices) d->Stop();
  DeliveriesByUser all = collect();
  Tally verdict = check(all);

  int64_t delivered = 0, group_delivered = 0, notifications = 0;
  for (const auto& [u, ds] : all) {
    for (const auto& d : ds) {
      ++delivered;
      if (!d.is_message()) {
        ++notifications;
      } else if (d.conv.rfind("g:", 0) == 0) {
        ++group_delivered;
      }
    }
  }
  size_t group_accepted = 0, membership_changes = 0, membership_failed = 0;
  for (const auto& [gid, ms] : sends.group) group_accepted += ms.size();
  for (const auto& g : groups) {
    membership_changes += changes[g->spec().id].size();
    membership_failed += g->complete() ? 0 : 1;
  }
  size_t accepted = sends.direct.size() + group_accepted;
  for (const auto& n : verdict.notes) std::fprintf(stderr, "finding: %s\n", n.c_str());
  if (verdict.notes_dropped > 0) {
    std::fprintf(stderr, "finding: ... and %lld more\n",
                 static_cast<long long>(verdict.notes_dropped));
  }
  if (membership_failed > 0) say("a membership change failed for good (see above)");
  double duration = std::chrono::duration<double>(Clock::now() - started).count();
  auto ll = [](int64_t v) { return static_cast<long long>(v); };
  std::printf("users: %d\ngroups: %zu\ngroup_members: %d\n", opt.users, groups.size(),
              group_members);
  std::printf("sent: %lld\naccepted: %zu\nsend_failed: %lld\n", ll(sends.sent), accepted,
              ll(sends.failed));
  std::printf("group_sent: %lld\ngroup_accepted: %zu\ngroup_not_member: %lld\n",
              ll(sends.group_sent), group_accepted, ll(sends.group_not_member));
  std::printf("membership_changes: %zu\nmembership_failed: %zu\n", membership_changes,
              membership_failed);
  std::printf("delivered: %lld\ngroup_delivered: %lld\nnotifications_delivered: %lld\n",
              ll(delivered), ll(group_delivered), ll(notifications));
  std::printf("lost: %lld\nduplicated: %lld\nout_of_order: %lld\nunexpected: %lld\n",
              ll(verdict.lost), ll(verdict.duplicated), ll(verdict.out_of_order),
              ll(verdict.unexpected));
  std::printf("topology: %s\nuplinks: %zu\n", opt.cluster ? "cluster" : "single", urls.size());
  std::printf("faults_injected: %d\nredis_master_kills: %d\nseed: %llu\nduration_s: %.1f\n", faults,
              master_kills, static_cast<unsigned long long>(seed), duration);
  if (!verdict.clean() || opt.keep) {
    // Keep the evidence: every device's deliveries, each group's changes, and the stack's logs.
    std::string dir = stack.data_dir() + "/evidence";
    std::filesystem::create_directories(dir);
    for (const auto& [u, ds] : all) {
      std::ofstream out(dir + "/" + u + ".deliveries");
      for (const auto& d : ds) out << EncodeDelivery(d) << '\n';
    }
    for (const auto& g : groups)
      std::ofstream(dir + "/" + g->spec().id + ".changes") << g->Timeline();
    std::ofstream findings(dir + "/findings");
    for (const auto& n : verdict.notes) findings << n << '\n';
    std::fprintf(stderr, "evidence (deliveries, membership changes, findings) in %s\n",
                 dir.c_str());
    setenv("COURIER_KEEP_TEST_DIRS", "1", 1);
  }
  if (opt.keep) std::fprintf(stderr, "stack data and logs kept in %s\n", stack.data_dir().c_str());
  // A run that accepted nothing, or whose membership changes stopped half-way, proves little.
  bool exercised = accepted > 0 && (groups.empty() || group_accepted > 0) && membership_failed == 0;
  // In a sanitizer build, a report in any component's log fails the run (always OK otherwise).
  if (Status s = stack.StopAll(); !s.ok()) {
    std::fprintf(stderr, "finding: %s\n", s.message().c_str());
    return 1;
  }
  return verdict.clean() && exercised ? 0 : 1;
}

}  // namespace

}  // namespace courier::chaos

int main(int argc, char** argv) {
  using namespace courier::chaos;
  CLI::App app{"courier-chaos: messages under faults; counts lost, duplicated, out of order"};
  Options opt;
  bool client_process = false;
  std::string url, state_dir, log_dir, users;
  app.add_option("--users", opt.users, "users (at least 2; 3 with groups)")->capture_default_str();
  app.add_option("--duration", opt.duration_s, "seconds of traffic and faults")
      ->capture_default_str();
  app.add_option("--settle", opt.settle_s, "longest wait for deliveries after the traffic")
      ->capture_default_str();
  app.add_option("--child-users", opt.child_users, "users hosted in a separate client process")
      ->capture_default_str();
  app.add_option("--send-threads", opt.send_threads, "sender threads")->capture_default_str();
  app.add_option("--send-pause-ms", opt.send_pause_ms, "pause between a thread's sends")
      ->capture_default_str();
  app.add_option("--groups", opt.groups, "groups, each with core and churn members")
      ->capture_default_str();
  app.add_option("--group-size", opt.group_size,
                 "members of the first group; each next one has 2 fewer (at least 3)")
      ->capture_default_str();
  app.add_option("--group-share", opt.group_share, "% of a group member's sends to a group")
      ->capture_default_str();
  app.add_option("--churn-every-ms", opt.churn_every_ms,
                 "per group, the pause between membership changes (± half)")
      ->capture_default_str();
  app.add_option("--seed", opt.seed, "random seed (0: random; the run prints the one it used)");
  app.add_flag("--keep", opt.keep, "keep the stack's data and logs (COURIER_KEEP_TEST_DIRS)");
  app.add_flag("--cluster", opt.cluster,
               "the clustered stack: Redis Cluster (3 masters + replicas), 3 brokers, 2 uplinks, "
               "2 downlinks; faults kill one process of a tier, a Redis master among them");
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
  if (opt.users < (opt.groups > 0 ? 3 : 2) || opt.duration_s < 10 || opt.duration_s > 3600 ||
      opt.child_users < 0 || opt.child_users >= opt.users || opt.send_threads < 1 ||
      opt.settle_s < 1 || opt.groups < 0 || opt.group_size < 3 || opt.group_share < 0 ||
      opt.group_share > 100 || opt.churn_every_ms < 100) {
    std::cerr << "bad arguments; see --help\n";
    return 2;
  }
  if (opt.keep) setenv("COURIER_KEEP_TEST_DIRS", "1", 1);
  signal(SIGINT, [](int) { g_stop = true; });
  return Run(opt, std::filesystem::read_symlink("/proc/self/exe").string());
}
