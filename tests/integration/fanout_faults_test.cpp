// Group fan-out through faults (SPEC §1.2–§1.3; design "Groups"): a group message is stored
// once by the uplink and copied into every member's inbox by a downlink's fan-out worker.
//   - a downlink killed with -9 while it copies a burst into 200 inboxes, then restarted,
//     finishes the copy: every member has every message exactly once, in conv_seq order;
//   - a downlink that dies for good leaves its unfinished fan-out to another downlink, which
//     claims it after --claim-idle-ms;
//   - two downlinks fanning the same group at the same time write each entry once.
// The outcome is read from the inboxes (GET /v1/sync), the record that devices sync from.
#include <doctest/doctest.h>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/keys.h"
#include "tests/support/courier_api.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"
#include "tests/support/test_stack.h"

namespace courier::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

struct Group {
  std::string id;
  Login owner;
  std::vector<Login> members;  // owner first
};

// Registers `n` users "<prefix>0".."<prefix><n-1>", logs each in, and makes the first the
// owner of group `gid` holding all of them.
Group MakeGroup(const HttpClient& http, const std::string& gid, const std::string& prefix, int n) {
  Group g;
  g.id = gid;
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) {
    std::string u = prefix + std::to_string(i);
    Register(http, u);
    g.members.push_back(LogIn(http, u, "d"));
    if (i > 0) ids.push_back(u);
  }
  g.owner = g.members.front();
  CreateGroup(http, g.owner, gid, ids);
  return g;
}

// The group messages of `conv` in an inbox, as their conv_seqs in inbox order.
std::vector<int64_t> ConvSeqs(const std::vector<json>& items, const std::string& conv) {
  std::vector<int64_t> out;
  for (const auto& e : items) {
    if (e.value("type", "") == "message" && e.value("conv", "") == conv) {
      out.push_back(e["conv_seq"].get<int64_t>());
    }
  }
  return out;
}

std::vector<int64_t> OneTo(int64_t n) {
  std::vector<int64_t> v;
  for (int64_t i = 1; i <= n; ++i) v.push_back(i);
  return v;
}

// Every member's inbox holds group.created and conv_seqs 1..n of the group, each once, in
// order, with seqs 1, 2, 3, ... — waiting up to `timeout` for the fan-out to finish.
void CheckEveryInbox(const HttpClient& http, const Group& g, int64_t n,
                     std::chrono::milliseconds timeout) {
  std::string conv = "g:" + g.id;
  int complete = 0;
  for (const Login& m : g.members) {
    auto items = SyncUntil(
        http, m,
        [&](const std::vector<json>& it) { return ConvSeqs(it, conv).size() >= size_t(n); },
        timeout);
    CAPTURE(m.user);
    CHECK(ConvSeqs(items, conv) == OneTo(n));
    CHECK(EventsOf(items, "group.created").size() == 1);
    CHECK(SeqsAreContiguousFromOne(items));
    if (ConvSeqs(items, conv) == OneTo(n)) ++complete;
  }
  CHECK(complete == static_cast<int>(g.members.size()));
}

// The members' fan-in cursors for the group (the last feed entry copied into each inbox):
// shows where a fault hit the fan-out.
std::vector<int64_t> Cursors(const TestStack& stack, const Group& g) {
  std::vector<int64_t> out;
  for (const Login& m : g.members) {
    auto r = stack.RedisCommand({"HGET", keys::FanIn(m.user), "g:" + g.id});
    out.push_back(r.ok() && r->is_string() ? std::stoll(r->str) : 0);
  }
  return out;
}

}  // namespace

TEST_CASE("a downlink killed in the middle of a 200-member fan-out finishes it after restart") {
  TestStack stack;
  HttpClient http(stack.http_port());
  Group g = MakeGroup(http, "ff1", "ffa", 200);
  constexpr int kMessages = 30;
  for (int i = 0; i < kMessages; ++i) SendToOk(http, g.owner, "group:ff1", "m" + std::to_string(i));
  stack.KillDownlink();
  // fseq 1 is group.created; the messages are fseqs 2..31.
  auto cursors = Cursors(stack, g);
  auto [lo, hi] = std::minmax_element(cursors.begin(), cursors.end());
  MESSAGE("fan-in cursors when the downlink was killed: " << *lo << ".." << *hi << " of "
                                                          << kMessages + 1);
  REQUIRE(stack.StartDownlink().ok());
  CheckEveryInbox(http, g, kMessages, 30s);
}

TEST_CASE("a fan-out left by a dead downlink is claimed by another one") {
  TestStackOptions options;
  options.downlink_args = {"--claim-idle-ms", "1500"};
  TestStack stack(options);
  HttpClient http(stack.http_port());
  Group g = MakeGroup(http, "ff2", "ffb", 120);
  // Stop the downlink's worker mid-way (SIGSTOP keeps its tasks pending in the group), then
  // let another downlink take them over.
  for (int i = 0; i < 20; ++i) SendToOk(http, g.owner, "group:ff2", "m" + std::to_string(i));
  // Every downlink of the stack (the cluster topology runs two): only the new one can claim.
  for (ChildProcess* d : stack.processes(Component::kDownlink)) REQUIRE(d->Signal(SIGSTOP));
  for (int i = 20; i < 25; ++i) SendToOk(http, g.owner, "group:ff2", "m" + std::to_string(i));
  REQUIRE(stack.StartExtraDownlink().ok());
  CheckEveryInbox(http, g, 25, 30s);
  for (ChildProcess* d : stack.processes(Component::kDownlink)) d->Signal(SIGCONT);
  // The stopped downlink resumes with tasks the other one already did: nothing is repeated.
  std::this_thread::sleep_for(1s);
  CheckEveryInbox(http, g, 25, 5s);
}

TEST_CASE("two downlinks fanning one group at once write each entry once, in order") {
  TestStack stack;
  REQUIRE(stack.StartExtraDownlink().ok());
  HttpClient http(stack.http_port());
  Group g = MakeGroup(http, "ff3", "ffc", 60);
  // Four senders at once: the tasks spread over both downlinks' fan-out workers.
  std::atomic<int> failures{0};
  std::vector<std::thread> senders;
  for (int t = 0; t < 4; ++t) {
    senders.emplace_back([&, t] {
      HttpClient h(stack.http_port());
      for (int i = 0; i < 15; ++i) {
        auto r = SendTo(h, g.members[t], "group:ff3",
                        "t" + std::to_string(t) + "-" + std::to_string(i), json{{"i", i}});
        if (r.status != 201) ++failures;
      }
    });
  }
  for (auto& s : senders) s.join();
  REQUIRE(failures == 0);
  CheckEveryInbox(http, g, 60, 30s);
}

}  // namespace courier::testing
