// GroupChurn: one group of the chaos run and the thread that changes its membership.
//
// The group is created by its owner with every member in it. Its first members (the owner
// among them) are its core: they stay all along. The others churn: every `every` (± half) the
// thread picks one of them and, if it is in the group, has the owner remove it (or, one time in
// three, has it leave by itself); if it is out, has the owner add it back. One change in five is
// followed at once by the opposite one, and one in ten of those by a third (remove, add, remove
// within a few milliseconds): short memberships that the downlink's fan-out has to get right
// while the entries are still in the feed.
//
// Each change is retried through faults (no answer, 5xx, 429) until the server has certainly
// made it exactly once: a retry of a removal that finds the user gone (404, or not_member for a
// leave) means an earlier attempt got through; an addition is idempotent. So changes() is the
// exact list the group's feed holds, in feed order (one thread makes them one after another).
//
// The owner and the churn members act through sessions of their own (ChurnSessions: device
// "churn", platform "web"), so the chaos devices ("cli") and senders ("desktop") keep theirs;
// one user's session is shared by every group it is in, as single sign-on allows one per
// platform.
//
// Thread-safety: ChurnSessions is thread-safe. GroupChurn: Create() and Start()/Stop() from one
// thread; spec(), IsMember(), MaySend(), changes() and complete() from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "tests/chaos/chaos_check.h"
#include "tests/support/http_client.h"

namespace courier::chaos {

struct GroupChurnOptions {
  std::string group_id;
  std::vector<std::string> members;  // the owner first
  int churn = 1;                     // the last `churn` members churn; the others are core
  std::chrono::milliseconds every{1500};
  int max_changes = 200;  // the thread stops after this many changes
  uint64_t seed = 1;
  // Gives up on one change after trying this long (then complete() is false and it stops).
  std::chrono::seconds change_deadline{60};
  // For the timeline of changes(): when the run started.
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

// The "web" sessions of the users that change memberships, one per user, made on first use.
class ChurnSessions {
 public:
  using PasswordOf = std::function<std::string(const std::string&)>;
  // `http` must outlive this object.
  ChurnSessions(const testing::HttpClient* http, PasswordOf password_of)
      : http_(http), password_of_(std::move(password_of)) {}

  // The user's bearer token, logging it in first if needed (retried through faults for up to
  // `deadline`); Unavailable with the last answer if that fails.
  Result<std::string> TokenOf(const std::string& user, std::chrono::seconds deadline);

 private:
  const testing::HttpClient* http_;
  PasswordOf password_of_;
  std::mutex mu_;
  std::map<std::string, std::string> tokens_;  // GUARDED_BY(mu_)
};

class GroupChurn {
 public:
  using Say = std::function<void(const std::string&)>;

  // `http` and `sessions` must outlive this object. REQUIRES: churn < members.size().
  GroupChurn(const testing::HttpClient* http, ChurnSessions* sessions, GroupChurnOptions options,
             Say say);
  ~GroupChurn();
  GroupChurn(const GroupChurn&) = delete;
  GroupChurn& operator=(const GroupChurn&) = delete;

  // Gets the sessions of the owner and the churn members and creates the group. Retries through
  // faults for up to options.change_deadline.
  Status Create();
  // Starts the membership thread; Stop() asks it to end after its current change and joins it.
  void Start();
  void Stop();

  const GroupSpec& spec() const { return spec_; }
  bool IsMember(const std::string& user) const;
  bool IsCore(const std::string& user) const;
  // Whether `user` may send to the group: a core member, or a churn member the thread last put
  // in (a removal in flight can still make its send 403 not_member).
  bool MaySend(const std::string& user) const;
  std::vector<MembershipChange> changes() const;
  // changes() with the time each was answered, one per line: "12.345s group.member_added u".
  std::string Timeline() const;
  // False if a change failed for good: changes() may then miss one at its end.
  bool complete() const { return complete_; }

 private:
  enum class Op { kAdd, kRemove, kLeave };
  void Loop();
  // Makes one change exactly once; false if it failed for good.
  bool Apply(Op op, const std::string& user);
  bool SleepFor(std::chrono::milliseconds d);  // false if stopping

  const testing::HttpClient* http_;
  ChurnSessions* sessions_;
  GroupChurnOptions options_;
  Say say_;
  GroupSpec spec_;
  std::vector<std::string> churners_;
  std::map<std::string, std::string> tokens_;  // user -> bearer token; written in Create() only
  std::mt19937_64 rng_;                        // the thread's
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> complete_{true};

  mutable std::mutex mu_;
  std::map<std::string, bool> in_group_;   // churn member -> last known in; GUARDED_BY(mu_)
  std::vector<MembershipChange> changes_;  // GUARDED_BY(mu_)
  std::vector<double> changed_at_s_;       // GUARDED_BY(mu_); one per change
};

}  // namespace courier::chaos
