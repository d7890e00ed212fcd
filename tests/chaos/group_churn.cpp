#include "tests/chaos/group_churn.h"

#include <algorithm>
#include <cstdio>

namespace courier::chaos {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// No answer, or an answer that says "try again": the request may or may not have been applied.
bool Retryable(const testing::HttpResponse& r) {
  return r.status == 0 || r.status == 429 || r.status >= 500;
}

}  // namespace

Result<std::string> ChurnSessions::TokenOf(const std::string& user, std::chrono::seconds deadline) {
  std::lock_guard lock(mu_);
  if (auto it = tokens_.find(user); it != tokens_.end()) return it->second;
  auto until = Clock::now() + deadline;
  while (true) {
    auto r = http_->Post("/v1/sessions", {{"user_id", user},
                                          {"password", password_of_(user)},
                                          {"device_id", "churn"},
                                          {"platform", "web"}});
    if (r.status == 200 && r.json.contains("token") && r.json["token"].is_string()) {
      return tokens_[user] = r.json["token"].get<std::string>();
    }
    if (!Retryable(r) || Clock::now() > until) {
      return Status::Unavailable("login " + user + ": " + r.Describe());
    }
    std::this_thread::sleep_for(300ms);
  }
}

GroupChurn::GroupChurn(const testing::HttpClient* http, ChurnSessions* sessions,
                       GroupChurnOptions options, Say say)
    : http_(http),
      sessions_(sessions),
      options_(std::move(options)),
      say_(std::move(say)),
      rng_(options_.seed) {
  spec_.id = options_.group_id;
  spec_.members = options_.members;
  size_t core = options_.members.size() - static_cast<size_t>(options_.churn);
  spec_.core.assign(options_.members.begin(), options_.members.begin() + core);
  churners_.assign(options_.members.begin() + core, options_.members.end());
  for (const auto& u : churners_) in_group_[u] = true;
}

GroupChurn::~GroupChurn() { Stop(); }

Status GroupChurn::Create() {
  std::vector<std::string> need = {spec_.members.front()};
  need.insert(need.end(), churners_.begin(), churners_.end());
  for (const auto& u : need) {
    auto token = sessions_->TokenOf(u, options_.change_deadline);
    if (!token.ok()) return token.status();
    tokens_[u] = *token;
  }
  auto deadline = Clock::now() + options_.change_deadline;
  json others = json::array();
  for (size_t i = 1; i < spec_.members.size(); ++i) others.push_back(spec_.members[i]);
  bool retried = false;
  while (true) {
    auto r = http_->Post(
        "/v1/groups", {{"group_id", spec_.id}, {"name", "chaos " + spec_.id}, {"members", others}},
        tokens_[spec_.members.front()]);
    if (r.status == 201 || (retried && r.status == 409)) return Status::Ok();
    if (!Retryable(r) || Clock::now() > deadline) {
      return Status::Unavailable("create group " + spec_.id + ": " + r.Describe());
    }
    retried = true;
    std::this_thread::sleep_for(300ms);
  }
}

void GroupChurn::Start() {
  if (churners_.empty() || thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void GroupChurn::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

bool GroupChurn::IsMember(const std::string& user) const {
  return std::find(spec_.members.begin(), spec_.members.end(), user) != spec_.members.end();
}

bool GroupChurn::IsCore(const std::string& user) const {
  return std::find(spec_.core.begin(), spec_.core.end(), user) != spec_.core.end();
}

bool GroupChurn::MaySend(const std::string& user) const {
  std::lock_guard lock(mu_);
  auto it = in_group_.find(user);
  if (it != in_group_.end()) return it->second;
  return IsMember(user);
}

std::vector<MembershipChange> GroupChurn::changes() const {
  std::lock_guard lock(mu_);
  return changes_;
}

std::string GroupChurn::Timeline() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (size_t i = 0; i < changes_.size(); ++i) {
    char at[32];
    std::snprintf(at, sizeof at, "%.3fs ", changed_at_s_[i]);
    out += at + changes_[i].event + " " + changes_[i].user + "\n";
  }
  return out;
}

bool GroupChurn::SleepFor(std::chrono::milliseconds d) {
  auto until = Clock::now() + d;
  while (!stop_ && Clock::now() < until) std::this_thread::sleep_for(std::min(50ms, d));
  return !stop_;
}

void GroupChurn::Loop() {
  int made = 0;
  auto every = options_.every.count();
  while (made < options_.max_changes) {
    auto pause = std::chrono::milliseconds(every / 2 + static_cast<int64_t>(rng_() % (every + 1)));
    if (!SleepFor(pause)) return;
    const std::string user = churners_[rng_() % churners_.size()];
    bool in;
    {
      std::lock_guard lock(mu_);
      in = in_group_[user];
    }
    // A run of 1 change, or (one in five) 2, or (one in ten of those) 3, alternating.
    int run = 1;
    if (rng_() % 5 == 0) run = rng_() % 10 == 0 ? 3 : 2;
    for (int k = 0; k < run && made < options_.max_changes; ++k) {
      Op op = in ? (rng_() % 3 == 0 ? Op::kLeave : Op::kRemove) : Op::kAdd;
      if (!Apply(op, user)) {
        complete_ = false;
        return;
      }
      in = !in;
      ++made;
      // Distinct ts (ms) for the notifications of one user, whatever the machine's speed.
      std::this_thread::sleep_for(5ms);
    }
  }
}

bool GroupChurn::Apply(Op op, const std::string& user) {
  const std::string& owner = spec_.members.front();
  const std::string path = "/v1/groups/" + spec_.id + "/members";
  auto deadline = Clock::now() + options_.change_deadline;
  bool maybe_applied = false;
  while (true) {
    testing::HttpResponse r;
    if (op == Op::kAdd) {
      r = http_->Post(path, {{"user_ids", {user}}}, tokens_.at(owner));
    } else {
      r = http_->Delete(path + "/" + user, tokens_.at(op == Op::kLeave ? user : owner));
    }
    if (r.ok()) break;
    // An earlier attempt that got no answer had removed the user already.
    if (maybe_applied && op == Op::kRemove && r.status == 404) break;
    if (maybe_applied && op == Op::kLeave && r.error_code() == "not_member") break;
    if (!Retryable(r) || Clock::now() > deadline) {
      say_("group " + spec_.id + ": membership change for " + user +
           " failed for good: " + r.Describe() + "; no more changes in this group");
      return false;
    }
    maybe_applied = true;
    std::this_thread::sleep_for(300ms);
  }
  static const char* const kEvents[] = {"group.member_added", "group.member_removed",
                                        "group.member_left"};
  std::lock_guard lock(mu_);
  changes_.push_back({kEvents[static_cast<int>(op)], user});
  changed_at_s_.push_back(std::chrono::duration<double>(Clock::now() - options_.started).count());
  in_group_[user] = op == Op::kAdd;
  return true;
}

}  // namespace courier::chaos
