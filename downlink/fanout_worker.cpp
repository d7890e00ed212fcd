#include "downlink/fanout_worker.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "common/clock.h"
#include "common/envelope.h"
#include "common/keys.h"
#include "common/log.h"

namespace courier {

namespace {

constexpr std::chrono::milliseconds kLeaseMargin{100};

int64_t ToInt(const RedisValue& v) {
  if (v.is_integer()) return v.integer;
  return std::strtoll(v.str.c_str(), nullptr, 10);
}

}  // namespace

FanoutWorker::FanoutWorker(RedisConfig redis, int shard, std::string consumer,
                           MetricsRegistry* metrics, FanoutWorkerOptions options,
                           const ShardLease* lease, QueueBacklog* backlog)
    : tasks_(redis, keys::FanoutStream(shard), keys::FanoutShardOwner(shard), kGroup,
             std::move(consumer)),
      options_(options),
      push_pool_(std::move(redis), 1),
      push_policy_(PushPolicy(options)),
      steps_(&push_pool_, &push_policy_),
      lease_(lease),
      tasks_done_(metrics->GetCounter("courier_fanout_tasks_total",
                                      "Fan-out tasks done (group feeds, signals, presence)")),
      entries_copied_(metrics->GetCounter("courier_fanout_inbox_entries_total",
                                          "Group feed entries copied into members' inboxes")),
      signals_pushed_(metrics->GetCounter("courier_fanout_signals_total",
                                          "Signal pushes queued for group members and friends")),
      pushes_requeued_(metrics->GetCounter(
          "courier_fanout_pushes_requeued_total",
          "Pushes of group entries queued again by a repeated fan-out (crash recovery)")),
      backlog_(&tasks_, backlog, shard, kBacklogSampleMs) {}

std::string FanoutWorker::DeliveryStreamOf(const std::string& user) const {
  return keys::DeliveryStream(keys::DeliveryShard(user, options_.shards));
}

std::string FanoutWorker::NewEpoch() {
  unsigned char bytes[8];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    uint64_t t = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
    std::memcpy(bytes, &t, sizeof bytes);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

Result<std::vector<StreamEntry>> FanoutWorker::NextBatch() {
  if (pending_scan_) {
    auto batch = tasks_.ReadPending(options_.batch);
    if (!batch.ok() || !batch->empty()) return batch;
    pending_scan_ = false;
  }
  auto now = std::chrono::steady_clock::now();
  if (now >= next_claim_) {
    next_claim_ = now + std::chrono::milliseconds(options_.claim_every_ms);
    auto stale = tasks_.ClaimStale(options_.claim_idle_ms, options_.batch);
    if (!stale.ok()) return stale;
    if (!stale->empty()) {
      spdlog::warn("claimed {} fan-out tasks left pending by another consumer", stale->size());
      return stale;
    }
  }
  int block_ms = options_.block_ms;
  if (lease_ != nullptr) {
    auto left = (lease_->Remaining() - kLeaseMargin).count();
    if (left <= 0) return Status::Conflict("the shard's lease is not held");
    block_ms = static_cast<int>(std::min<int64_t>(block_ms, left));
  }
  return tasks_.ReadNew(options_.batch, block_ms);
}

Result<int> FanoutWorker::RunOnce() {
  Result<int> done = Step();
  backlog_.MaybeSample();
  return done;
}

Result<int> FanoutWorker::Step() {
  if (lease_ != nullptr && !lease_->HeldFor(kLeaseMargin)) {
    return Status::Conflict("the shard's lease is not held");
  }
  if (!groups_ready_) {
    if (Status s = tasks_.EnsureGroup(); !s.ok()) return s;
    auto taken = tasks_.ClaimAll();
    if (!taken.ok()) return taken.status();
    if (*taken > 0) {
      spdlog::warn("took over {} fan-out tasks a previous owner of the shard left pending", *taken);
    }
    pending_scan_ = true;
    tasks_.RewindPending();
    groups_ready_ = true;
  }
  auto batch = NextBatch();
  if (!batch.ok()) {
    groups_ready_ = false;  // the group may have vanished with a Redis that lost its data
    return batch.status();
  }
  std::vector<std::string> done;
  Status failure = Status::Ok();
  for (const StreamEntry& task : *batch) {
    if (lease_ != nullptr && !lease_->HeldFor(std::chrono::milliseconds(0))) {
      failure = Status::Conflict("the shard's lease ran out");  // the next owner does the rest
      break;
    }
    failure = Process(task);
    if (!failure.ok()) break;
    done.push_back(task.id);
  }
  if (!failure.ok()) {
    // The failed task and those after it stay pending; go through the pending list again.
    pending_scan_ = true;
    tasks_.RewindPending();
  }
  if (Status s = tasks_.Ack(done); !s.ok()) {
    pending_scan_ = true;
    tasks_.RewindPending();  // done but not acknowledged: done again later, harmlessly
    return s;
  }
  tasks_done_.Inc(done.size());
  if (!failure.ok()) return failure;
  return static_cast<int>(done.size());
}

Status FanoutWorker::Process(const StreamEntry& task) {
  const std::string& kind = task.Field("k");
  if (kind == "feed") return FanFeed(task.Field("c"));
  if (kind == "signal") return FanSignal(task.Field("c"), task.Field("x"), task.Field("p"));
  if (kind == "presence") {
    return FanPresence(task.Field("u"), task.Field("on") == "1",
                       std::strtoll(task.Field("ts").c_str(), nullptr, 10));
  }
  spdlog::warn("dropping unknown fan-out task {} {} (k={})", task.stream, task.id, kind);
  return Status::Ok();
}

Result<std::vector<RedisValue>> FanoutWorker::RunPipeline(
    const std::vector<std::vector<std::string>>& commands) {
  if (commands.empty()) return std::vector<RedisValue>{};
  auto conn = tasks_.Connection();
  if (!conn.ok()) return conn.status();
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto r = (*conn)->Pipeline(commands);
    if (!r.ok()) return r.status();
    bool noscript = false;
    for (const auto& v : *r) {
      if (v.type != RedisValue::Type::kError) continue;
      if (v.str.rfind("NOSCRIPT", 0) == 0) {
        noscript = true;
        continue;
      }
      return Status::Internal("redis: " + v.str);
    }
    if (!noscript) return r;
    // Redis restarted and forgot the script: load it and send the batch again (every
    // command here is idempotent).
    auto loaded = (*conn)->Command({"SCRIPT", "LOAD", fanin_.source()});
    if (!loaded.ok()) return loaded.status();
  }
  return Status::Unavailable("redis keeps forgetting the fan-in script");
}

Status FanoutWorker::FanFeed(const std::string& conv) {
  if (conv.rfind("g:", 0) != 0) {
    spdlog::warn("dropping a feed task for {}: not a group", conv);
    return Status::Ok();
  }
  std::string gid = conv.substr(2);
  while (true) {
    auto conn = tasks_.Connection();
    if (!conn.ok()) return conn.status();
    auto r = (*conn)->Eval(read_feed_,
                           {keys::ConversationMeta(conv), keys::GroupFeed(gid),
                            keys::GroupJoined(gid), keys::GroupLeft(gid)},
                           {std::to_string(options_.feed_page)});
    if (!r.ok()) return r.status();
    if (r->type == RedisValue::Type::kError) return Status::Internal("read_feed: " + r->str);
    if (!r->is_array() || r->elements.size() != 4) return Status::Internal("read_feed: bad reply");
    GroupSnapshot snap;
    snap.fanned = ToInt(r->elements[0]);
    for (const auto& v : r->elements[1].elements) {
      if (v.elements.size() != 2) continue;
      std::vector<std::pair<std::string, std::string>> fields;
      const auto& f = v.elements[1].elements;
      for (size_t i = 0; i + 1 < f.size(); i += 2) fields.emplace_back(f[i].str, f[i + 1].str);
      auto e = ParseFeedEntry(v.elements[0].str, fields);
      if (!e) {
        spdlog::error("group {}: unreadable feed entry {}; skipped", gid, v.elements[0].str);
        continue;
      }
      snap.entries.push_back(std::move(*e));
    }
    const auto& joined = r->elements[2].elements;
    for (size_t i = 0; i + 1 < joined.size(); i += 2) {
      snap.joined[joined[i].str] = ToInt(joined[i + 1]);
    }
    const auto& left = r->elements[3].elements;
    for (size_t i = 0; i + 1 < left.size(); i += 2) {
      if (auto spans = ParseMemberSpans(left[i + 1].str)) snap.left[left[i].str] = *spans;
    }
    size_t read = r->elements[1].elements.size();
    if (read == 0) return Status::Ok();
    if (Status s = ApplyPlan(conv, snap); !s.ok()) return s;
    // The watermark moves past everything read, unreadable entries included.
    const auto& last = r->elements[1].elements.back().elements[0].str;
    std::string upto = last.substr(0, last.find('-'));
    auto f = (*conn)->Eval(
        fanned_, {keys::ConversationMeta(conv), keys::GroupFeed(gid), keys::GroupLeft(gid)},
        {upto});
    if (!f.ok()) return f.status();
    if (f->type == RedisValue::Type::kError) return Status::Internal("fanned: " + f->str);
    if (read < static_cast<size_t>(options_.feed_page)) return Status::Ok();
  }
}

Status FanoutWorker::ApplyPlan(const std::string& conv, const GroupSnapshot& snap) {
  auto plan = PlanFanout(snap);
  std::string now = std::to_string(SystemClock().NowMs());
  std::vector<std::vector<std::string>> batch;
  std::vector<std::string> batch_users;
  size_t copied = 0;
  // Step 1: fanin.lua per recipient (each in the recipient's slot); step 2: the pushes it
  // returned, queued in the recipients' delivery streams. The task is acknowledged only after
  // both, so a crash in between repeats the task, and fanin.lua returns the pushes again.
  auto flush = [&]() -> Status {
    auto replies = RunPipeline(batch);
    batch.clear();
    if (!replies.ok()) return replies.status();
    std::vector<InboxEntry> pushes;
    uint64_t requeued = 0;
    for (size_t i = 0; i < replies->size(); ++i) {
      const RedisValue& r = (*replies)[i];
      if (!r.is_array() || r.elements.size() < 2) return Status::Internal("fanin: bad reply");
      requeued += static_cast<uint64_t>(ToInt(r.elements[1]));
      for (size_t k = 2; k + 1 < r.elements.size(); k += 2) {
        pushes.push_back({batch_users[i], ToInt(r.elements[k]), r.elements[k + 1].str, ""});
      }
    }
    batch_users.clear();
    if (requeued > 0) {
      pushes_requeued_.Inc(requeued);
      spdlog::warn("conv {}: queued {} pushes again that a repeated fan-out had copied before",
                   conv, requeued);
    }
    return steps_.QueuePushes(pushes);
  };
  for (const auto& [user, indices] : plan) {
    std::vector<std::string> cmd = {"EVALSHA",
                                    fanin_.sha1(),
                                    "1",
                                    keys::InboxMeta(user),
                                    user,
                                    conv,
                                    NewEpoch(),
                                    now,
                                    std::to_string(options_.inbox_max_entries),
                                    std::to_string(options_.inbox_retention_ms)};
    for (size_t i : indices) {
      const FeedEntry& e = snap.entries[i];
      cmd.push_back(std::to_string(e.fseq));
      cmd.push_back(e.FaninFlag());
      cmd.push_back(e.rest);
    }
    copied += indices.size();
    batch.push_back(std::move(cmd));
    batch_users.push_back(user);
    if (batch.size() >= static_cast<size_t>(options_.users_per_pipeline)) {
      if (Status s = flush(); !s.ok()) return s;
    }
  }
  if (Status s = flush(); !s.ok()) return s;
  entries_copied_.Inc(copied);
  return Status::Ok();
}

StorePolicy FanoutWorker::PushPolicy(const FanoutWorkerOptions& options) {
  StorePolicy p;
  p.delivery_shards = options.shards;
  p.delivery_stream_max = options.delivery_stream_max;
  p.inbox_max_entries = options.inbox_max_entries;
  p.inbox_retention_ms = options.inbox_retention_ms;
  return p;
}

Status FanoutWorker::QueueInboxPushes(
    const std::vector<std::pair<std::string, std::string>>& pushes) {
  std::vector<std::vector<std::string>> cmds;
  for (const auto& [user, payload] : pushes) {
    cmds.push_back({"XADD", DeliveryStreamOf(user), "MAXLEN", "~",
                    std::to_string(options_.delivery_stream_max), "*", "u", user, "k", "inbox", "p",
                    payload});
  }
  auto r = RunPipeline(cmds);
  return r.ok() ? Status::Ok() : r.status();
}

Status FanoutWorker::QueuePushes(const std::vector<std::string>& users,
                                 const std::string& payload) {
  std::vector<std::pair<std::string, std::string>> pushes;
  for (const auto& u : users) pushes.emplace_back(u, payload);
  if (Status s = QueueInboxPushes(pushes); !s.ok()) return s;
  signals_pushed_.Inc(users.size());
  return Status::Ok();
}

Status FanoutWorker::FanSignal(const std::string& conv, const std::string& skip,
                               const std::string& payload) {
  if (conv.rfind("g:", 0) != 0 || payload.empty()) return Status::Ok();
  auto conn = tasks_.Connection();
  if (!conn.ok()) return conn.status();
  auto r = (*conn)->Command({"HKEYS", keys::GroupMembers(conv.substr(2))});
  if (!r.ok()) return r.status();
  std::vector<std::string> users;
  for (const auto& v : r->elements) {
    if (v.str != skip) users.push_back(v.str);
  }
  return QueuePushes(users, payload);
}

Status FanoutWorker::FanPresence(const std::string& user, bool online, int64_t ts) {
  if (user.empty()) return Status::Ok();
  auto conn = tasks_.Connection();
  if (!conn.ok()) return conn.status();
  // Friends, except those the user blocked.
  auto r = (*conn)->Pipeline({{"HKEYS", keys::Friends(user)}, {"SMEMBERS", keys::Blocks(user)}});
  if (!r.ok()) return r.status();
  std::set<std::string> blocked;
  for (const auto& v : (*r)[1].elements) blocked.insert(v.str);
  std::vector<std::string> friends;
  for (const auto& v : (*r)[0].elements) {
    if (!blocked.count(v.str)) friends.push_back(v.str);
  }
  return QueuePushes(friends, EncodePresenceSignal(user, online, ts));
}

}  // namespace courier
