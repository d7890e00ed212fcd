#include "common/redis_cluster_connection.h"

#include <algorithm>
#include <atomic>
#include <chrono>

#include "common/log.h"

namespace courier {

namespace {

int64_t SteadyNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool IsError(const RedisValue& v) { return v.type == RedisValue::Type::kError; }

// A replica falling behind shows on every write: one warning every few seconds is enough.
bool WarnAboutReplicasNow() {
  static std::atomic<int64_t> last_ms{0};
  const int64_t now = SteadyNowMs();
  int64_t last = last_ms.load(std::memory_order_relaxed);
  return now - last >= 5000 && last_ms.compare_exchange_strong(last, now);
}

}  // namespace

bool ClusterNodeHealth::MayUse(const RedisNodeAddress& node, int64_t now_ms) {
  std::lock_guard lock(mu_);
  auto it = failed_.find(node);
  if (it == failed_.end()) return true;
  if (now_ms < it->second.pause_until_ms || now_ms < it->second.probe_until_ms) return false;
  it->second.probe_until_ms = now_ms + probe_ms_;  // this caller tries it; the others wait
  return true;
}

void ClusterNodeHealth::Failed(const RedisNodeAddress& node, int64_t now_ms) {
  std::lock_guard lock(mu_);
  failed_[node] = Failure{now_ms + pause_ms_, 0};
}

void ClusterNodeHealth::Succeeded(const RedisNodeAddress& node) {
  std::lock_guard lock(mu_);
  if (!failed_.empty()) failed_.erase(node);
}

bool ClusterNodeHealth::BeginRefresh() {
  std::lock_guard lock(mu_);
  if (refreshing_) return false;
  refreshing_ = true;
  return true;
}

void ClusterNodeHealth::EndRefresh() {
  std::lock_guard lock(mu_);
  refreshing_ = false;
}

void ClusterNodeHealth::PublishMap(const ClusterRoutingTable& table) {
  std::lock_guard lock(mu_);
  map_ = table;
}

std::optional<ClusterRoutingTable> ClusterNodeHealth::LatestMap() {
  std::lock_guard lock(mu_);
  return map_;
}

RedisClusterConnection::RedisClusterConnection(RedisConfig config,
                                               std::vector<RedisNodeAddress> seeds,
                                               std::shared_ptr<ClusterNodeHealth> health)
    : config_(std::move(config)), seeds_(std::move(seeds)), health_(std::move(health)) {}

std::shared_ptr<ClusterNodeHealth> RedisClusterConnection::MakeHealth(const RedisConfig& config) {
  // A caller trying a node again takes at most a connect and a command; a little more, so that
  // a slow answer is not mistaken for an abandoned try.
  return std::make_shared<ClusterNodeHealth>(
      kNodeRetryMs, int64_t{config.connect_timeout_ms} + config.command_timeout_ms + 500);
}

Result<std::unique_ptr<RedisClusterConnection>> RedisClusterConnection::Connect(
    const RedisConfig& config, std::shared_ptr<ClusterNodeHealth> health) {
  Result<std::vector<RedisNodeAddress>> seeds = ParseRedisSeedList(config.cluster);
  if (!seeds.ok()) return seeds.status();
  if (health == nullptr) health = MakeHealth(config);
  std::unique_ptr<RedisClusterConnection> conn(
      new RedisClusterConnection(config, std::move(*seeds), std::move(health)));
  // Another connection of the pool read the map: start from it (node connections open as
  // commands need them; a stale entry is corrected as any other).
  conn->table_ = conn->health_->LatestMap();
  if (conn->table_) return conn;
  if (Status s = conn->Refresh(); !s.ok()) return s;
  return conn;
}

std::optional<RedisNodeAddress> RedisClusterConnection::NodeForKey(std::string_view key) const {
  if (!table_) return std::nullopt;
  return table_->NodeFor(KeySlot(key));
}

Status RedisClusterConnection::RefreshIfDue() {
  if (table_ && !refresh_due_) return Status::Ok();
  if (table_ && SteadyNowMs() - last_refresh_ms_ < kMinRefreshIntervalMs) return Status::Ok();
  if (!table_) return Refresh();
  // Another connection of the pool is re-reading it: keep routing by this map meanwhile.
  if (!health_->BeginRefresh()) return Status::Ok();
  Refresh();
  health_->EndRefresh();
  // A stale map still routes most slots right, and MOVED corrects the rest.
  return Status::Ok();
}

Status RedisClusterConnection::Refresh() {
  last_refresh_ms_ = SteadyNowMs();
  // Nodes already connected first (no connect needed, and a dead node's connection is gone),
  // then the known masters, then the seeds.
  std::vector<RedisNodeAddress> candidates;
  auto add = [&](const RedisNodeAddress& node) {
    if (std::find(candidates.begin(), candidates.end(), node) == candidates.end()) {
      candidates.push_back(node);
    }
  };
  for (const auto& [node, conn] : nodes_) add(node);
  if (table_) {
    for (const RedisNodeAddress& m : table_->Masters()) add(m);
  }
  for (const RedisNodeAddress& s : seeds_) add(s);

  Status last = Status::Unavailable("redis cluster: no node to ask for the slot map");
  bool reached_any = false;
  for (const RedisNodeAddress& node : candidates) {
    // Nodes that don't answer cost a timeout each: with a map to go on, one re-read spends at
    // most the command timeout on them (the next one goes on where the failures left off:
    // those nodes are paused then). Without one, every candidate is worth its wait.
    if (table_ && SteadyNowMs() - last_refresh_ms_ >= config_.command_timeout_ms) break;
    Result<RedisConnection*> conn = NodeConnection(node);
    if (!conn.ok()) {
      last = conn.status();
      continue;
    }
    Result<RedisValue> reply = (*conn)->Command({"CLUSTER", "SLOTS"});
    if (!reply.ok()) {
      last = NodeFailed(node, reply.status());
      continue;
    }
    NodeAnswered(node);
    reached_any = true;
    if (IsError(*reply)) {
      // E.g. "ERR This instance has cluster support disabled": a single Redis named as a seed.
      last = Status::Unavailable("redis cluster: " + node.ToString() +
                                 " answers CLUSTER SLOTS with " + reply->str);
      continue;
    }
    Result<SlotMap> map = SlotMap::FromClusterSlots(*reply);
    if (!map.ok()) {
      last =
          Status::Unavailable("redis cluster: " + node.ToString() + ": " + map.status().message());
      continue;
    }
    if (map->ranges().empty()) {
      last = Status::Unavailable("redis cluster: " + node.ToString() + " serves no slots yet");
      continue;
    }
    table_.emplace(std::move(*map));
    health_->PublishMap(*table_);
    refresh_due_ = false;
    unreachable_ = false;
    // Connections to nodes that are no longer masters (a demoted master) are of no more use.
    const std::vector<RedisNodeAddress> masters = table_->Masters();
    std::erase_if(nodes_, [&](const auto& entry) {
      return std::find(masters.begin(), masters.end(), entry.first) == masters.end();
    });
    return Status::Ok();
  }
  unreachable_ = !reached_any;
  refresh_due_ = true;
  return last;
}

Result<RedisConnection*> RedisClusterConnection::NodeConnection(const RedisNodeAddress& node) {
  // A node that failed just now (for any connection of the pool) is not waited for again, also
  // not on a connection that still looks open: a frozen node's socket does.
  if (!health_->MayUse(node, SteadyNowMs())) {
    return Status::Unavailable("redis cluster node " + node.ToString() +
                               " failed just now; retrying shortly");
  }
  if (auto it = nodes_.find(node); it != nodes_.end()) {
    if (it->second->LooksAlive()) return it->second.get();
    // Closed while idle (the node restarted or died): nothing was sent on it, so reconnecting
    // is safe; the topology may have changed with it.
    nodes_.erase(it);
    refresh_due_ = true;
  }
  RedisConfig single = config_;
  single.cluster.clear();
  single.host = node.host;
  single.port = node.port;
  Result<std::unique_ptr<RedisConnection>> conn = RedisConnection::Connect(single);
  if (!conn.ok()) return NodeFailed(node, conn.status());
  RedisConnection* raw = conn->get();
  nodes_[node] = std::move(*conn);
  return raw;
}

Status RedisClusterConnection::NodeFailed(const RedisNodeAddress& node, const Status& why) {
  nodes_.erase(node);
  health_->Failed(node, SteadyNowMs());
  refresh_due_ = true;
  return Status::Unavailable("redis cluster node " + node.ToString() + ": " + why.message());
}

Status RedisClusterConnection::ClusterErrorStatus(const std::vector<std::string>& args,
                                                  const RedisValue& reply,
                                                  const RedisNodeAddress& node) {
  if (!IsError(reply)) return Status::Ok();
  switch (ClassifyClusterError(reply.str)) {
    case ClusterErrorKind::kUnavailable:
      refresh_due_ = true;
      return Status::Unavailable("redis cluster node " + node.ToString() + ": " + reply.str);
    case ClusterErrorKind::kCrossSlot:
      return Status::Internal("redis cluster: " + args[0] + " across slots: " + reply.str);
    case ClusterErrorKind::kRedirect:
    case ClusterErrorKind::kNotCluster:
      break;
  }
  return Status::Ok();
}

Result<std::vector<RedisValue>> RedisClusterConnection::SendToNode(
    RedisConnection* conn, const RedisNodeAddress& node,
    std::vector<std::vector<std::string>> commands) {
  const int acks = config_.replica_acks;
  if (acks > 0) {
    commands.push_back(
        {"WAIT", std::to_string(acks), std::to_string(config_.replica_ack_timeout_ms)});
  }
  Result<std::vector<RedisValue>> got = conn->Pipeline(commands);
  if (!got.ok()) return NodeFailed(node, got.status());
  NodeAnswered(node);
  if (acks > 0) {
    const RedisValue& wait = got->back();
    // An error (a replica answering WAIT after a failover it hasn't noticed) or too few acks:
    // the writes stand, as they would without WAIT; the operator is told.
    if ((!wait.is_integer() || wait.integer < acks) && WarnAboutReplicasNow()) {
      spdlog::warn(
          "redis cluster: {} acknowledged writes to {} replica(s) of {} asked within {} ms "
          "(a replica down or behind); a failover now could lose them",
          node.ToString(), wait.is_integer() ? std::to_string(wait.integer) : wait.str, acks,
          config_.replica_ack_timeout_ms);
    }
    got->pop_back();
  }
  return got;
}

Result<RedisValue> RedisClusterConnection::FollowRedirects(const std::vector<std::string>& args,
                                                           Redirect redirect,
                                                           RedisNodeAddress const& from) {
  RedisNodeAddress previous = from;
  for (int hop = 0; hop < kMaxRedirects; ++hop) {
    RedisNodeAddress target{redirect.host.empty() ? previous.host : redirect.host, redirect.port};
    if (redirect.kind == Redirect::Kind::kMoved) {
      table_->Move(redirect.slot, target);
      refresh_due_ = true;
    }
    Result<RedisConnection*> conn = NodeConnection(target);
    if (!conn.ok()) return conn.status();
    RedisValue reply;
    if (redirect.kind == Redirect::Kind::kAsk) {
      // ASKING lets the importing node serve this one command for a slot it doesn't own yet.
      Result<std::vector<RedisValue>> replies = SendToNode(*conn, target, {{"ASKING"}, args});
      if (!replies.ok()) return replies.status();
      reply = std::move((*replies)[1]);
    } else {
      Result<std::vector<RedisValue>> replies = SendToNode(*conn, target, {args});
      if (!replies.ok()) return replies.status();
      reply = std::move((*replies)[0]);
    }
    if (Status s = ClusterErrorStatus(args, reply, target); !s.ok()) return s;
    std::optional<Redirect> next = IsError(reply) ? ParseRedirect(reply.str) : std::nullopt;
    if (!next) return reply;
    redirect = std::move(*next);
    previous = target;
  }
  refresh_due_ = true;
  return Status::Unavailable("redis cluster: " + args[0] + " redirected more than " +
                             std::to_string(kMaxRedirects) + " times (slot " +
                             std::to_string(redirect.slot) + "; the cluster is resharding?)");
}

Result<std::vector<RedisValue>> RedisClusterConnection::Pipeline(
    const std::vector<std::vector<std::string>>& commands) {
  if (Status s = RefreshIfDue(); !s.ok()) return s;
  // The map was just asked of every node there is to ask, and none answered: so won't this.
  if (unreachable_) return Status::Unavailable("redis cluster: no node answers");
  // Keyless commands go to a node already connected rather than open a new connection.
  std::optional<RedisNodeAddress> any;
  if (!nodes_.empty()) any = nodes_.begin()->first;
  Result<std::vector<NodeBatch>> plan = table_->Plan(commands, any);
  if (!plan.ok()) return plan.status();

  std::vector<RedisValue> replies(commands.size());
  std::vector<RedisNodeAddress> answered_by(commands.size());
  std::vector<bool> have(commands.size(), false);
  for (const NodeBatch& batch : *plan) {
    Result<RedisConnection*> conn = NodeConnection(batch.node);
    if (!conn.ok()) return conn.status();
    std::vector<std::vector<std::string>> part;
    part.reserve(batch.commands.size());
    for (size_t i : batch.commands) part.push_back(commands[i]);
    Result<std::vector<RedisValue>> got = SendToNode(*conn, batch.node, std::move(part));
    if (!got.ok()) return got.status();
    for (size_t j = 0; j < batch.commands.size(); ++j) {
      const size_t i = batch.commands[j];
      // A command sent to every master answers with the first error, else the first reply.
      if (!have[i] || (IsError((*got)[j]) && !IsError(replies[i]))) {
        replies[i] = std::move((*got)[j]);
        answered_by[i] = batch.node;
        have[i] = true;
      }
    }
  }
  for (size_t i = 0; i < commands.size(); ++i) {
    if (Status s = ClusterErrorStatus(commands[i], replies[i], answered_by[i]); !s.ok()) return s;
  }
  // Redirects last, one command at a time, in the pipeline's order.
  for (size_t i = 0; i < commands.size(); ++i) {
    if (!IsError(replies[i])) continue;
    std::optional<Redirect> redirect = ParseRedirect(replies[i].str);
    if (!redirect) continue;
    Result<RedisValue> r = FollowRedirects(commands[i], std::move(*redirect), answered_by[i]);
    if (!r.ok()) return r.status();
    replies[i] = std::move(*r);
  }
  return replies;
}

}  // namespace courier
