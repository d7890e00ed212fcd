#include "downlink/fanout_worker.h"

#include <openssl/rand.h>

#include <cstring>
#include <set>

#include "common/clock.h"
#include "common/envelope.h"
#include "common/keys.h"
#include "common/log.h"

namespace courier {

namespace {

std::vector<std::string> Streams(int shards) {
  std::vector<std::string> out;
  for (int i = 0; i < shards; ++i) out.push_back(keys::FanoutStream(i));
  return out;
}

int64_t ToInt(const RedisValue& v) {
  if (v.is_integer()) return v.integer;
  return std::strtoll(v.str.c_str(), nullptr, 10);
}

}  // namespace

FanoutWorker::FanoutWorker(RedisConfig redis, std::string consumer, MetricsRegistry* metrics,
                           FanoutWorkerOptions options)
    : tasks_(std::move(redis), Streams(options.shards), kGroup, std::move(consumer)),
      options_(options),
      tasks_done_(metrics->GetCounter("courier_fanout_tasks_total",
                                      "Fan-out tasks done (group feeds, signals, presence)")),
      entries_copied_(metrics->GetCounter("courier_fanout_inbox_entries_total",
                                          "Group feed entries copied into members' inboxes")),
      signals_pushed_(metrics->GetCounter("courier_fanout_signals_total",
                                          "Signal pushes queued for group members and friends")) {}

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
  return tasks_.ReadNew(options_.batch, options_.block_ms);
}

Result<int> FanoutWorker::RunOnce() {
  if (!groups_ready_) {
    if (Status s = tasks_.EnsureGroups(); !s.ok()) return s;
    groups_ready_ = true;
  }
  auto batch = NextBatch();
  if (!batch.ok()) {
    groups_ready_ = false;  // the group may have vanished with a Redis that lost its data
    return batch.status();
  }
  std::vector<std::pair<std::string, std::string>> done;
  Status failure = Status::Ok();
  for (const StreamEntry& task : *batch) {
    failure = Process(task);
    if (!failure.ok()) break;
    done.emplace_back(task.stream, task.id);
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

Status FanoutWorker::RunPipeline(const std::vector<std::vector<std::string>>& commands) {
  if (commands.empty()) return Status::Ok();
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
    if (!noscript) return Status::Ok();
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
  size_t copied = 0;
  auto flush = [&]() -> Status {
    Status s = RunPipeline(batch);
    batch.clear();
    return s;
  };
  for (const auto& [user, indices] : plan) {
    std::vector<std::string> cmd = {"EVALSHA",
                                    fanin_.sha1(),
                                    "2",
                                    keys::InboxMeta(user),
                                    DeliveryStreamOf(user),
                                    user,
                                    conv,
                                    NewEpoch(),
                                    now,
                                    std::to_string(options_.inbox_max_entries),
                                    std::to_string(options_.inbox_retention_ms),
                                    std::to_string(options_.delivery_stream_max)};
    for (size_t i : indices) {
      const FeedEntry& e = snap.entries[i];
      cmd.push_back(std::to_string(e.fseq));
      cmd.push_back(e.FaninFlag());
      cmd.push_back(e.rest);
    }
    copied += indices.size();
    batch.push_back(std::move(cmd));
    if (batch.size() >= static_cast<size_t>(options_.users_per_pipeline)) {
      if (Status s = flush(); !s.ok()) return s;
    }
  }
  if (Status s = flush(); !s.ok()) return s;
  entries_copied_.Inc(copied);
  return Status::Ok();
}

Status FanoutWorker::QueuePushes(const std::vector<std::string>& users,
                                 const std::string& payload) {
  std::vector<std::vector<std::string>> cmds;
  for (const auto& u : users) {
    cmds.push_back({"XADD", DeliveryStreamOf(u), "MAXLEN", "~",
                    std::to_string(options_.delivery_stream_max), "*", "u", u, "k", "inbox", "p",
                    payload});
  }
  if (Status s = RunPipeline(cmds); !s.ok()) return s;
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
