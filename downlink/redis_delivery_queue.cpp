#include "downlink/redis_delivery_queue.h"

#include "common/keys.h"
#include "common/log.h"

namespace courier {

namespace {

// One stream entry [id, [field, value, ...]] as a Delivery; false if it is not one of ours.
bool ToDelivery(const std::string& stream, const RedisValue& entry, Delivery* d) {
  if (!entry.is_array() || entry.elements.size() != 2 || !entry.elements[1].is_array()) {
    return false;
  }
  d->stream = stream;
  d->entry_id = entry.elements[0].str;
  const auto& f = entry.elements[1].elements;
  std::string kind;
  for (size_t i = 0; i + 1 < f.size(); i += 2) {
    const std::string& name = f[i].str;
    const std::string& value = f[i + 1].str;
    if (name == "u") d->user_id = value;
    else if (name == "k") kind = value;
    else if (name == "d") d->device_id = value;
    else if (name == "s") d->session_id = value;
    else if (name == "n") d->notify = value == "1";
    else if (name == "p") d->payload = value;
  }
  if (kind == "inbox") {
    d->kind = Delivery::Kind::kInbox;
  } else if (kind == "control") {
    d->kind = Delivery::Kind::kControl;
  } else {
    return false;
  }
  return !d->user_id.empty();
}

}  // namespace

RedisDeliveryQueue::RedisDeliveryQueue(RedisConfig redis, int shards, std::string consumer)
    : redis_(std::move(redis)), consumer_(std::move(consumer)) {
  for (int i = 0; i < shards; ++i) streams_.push_back(keys::DeliveryStream(i));
  pending_cursor_.assign(streams_.size(), "0");
}

Status RedisDeliveryQueue::EnsureConnected() {
  if (conn_ != nullptr && !conn_->broken()) return Status::Ok();
  auto c = RedisConnection::Connect(redis_);
  if (!c.ok()) return c.status();
  conn_ = std::move(*c);
  return Status::Ok();
}

Result<RedisValue> RedisDeliveryQueue::Run(const std::vector<std::string>& command) {
  if (Status s = EnsureConnected(); !s.ok()) return s;
  auto r = conn_->Command(command);
  if (r.ok() && r->type == RedisValue::Type::kError) {
    if (r->str.rfind("NOGROUP", 0) == 0 || r->str.rfind("LOADING", 0) == 0) {
      return Status::Unavailable("redis: " + r->str);
    }
    return Status::Internal("redis " + command[0] + ": " + r->str);
  }
  return r;
}

Status RedisDeliveryQueue::EnsureGroups() {
  for (const auto& s : streams_) {
    auto r = Run({"XGROUP", "CREATE", s, kGroup, "0", "MKSTREAM"});
    if (!r.ok() && r.status().message().find("BUSYGROUP") == std::string::npos) {
      return r.status();
    }
  }
  return Status::Ok();
}

Result<std::vector<Delivery>> RedisDeliveryQueue::ReadGroup(int count, int block_ms,
                                                            const std::vector<std::string>& ids) {
  std::vector<std::string> cmd = {"XREADGROUP", "GROUP", kGroup, consumer_, "COUNT",
                                  std::to_string(count)};
  if (block_ms > 0) {
    cmd.push_back("BLOCK");
    cmd.push_back(std::to_string(block_ms));
  }
  cmd.push_back("STREAMS");
  cmd.insert(cmd.end(), streams_.begin(), streams_.end());
  cmd.insert(cmd.end(), ids.begin(), ids.end());
  auto r = Run(cmd);
  if (!r.ok()) return r.status();
  std::vector<Delivery> out;
  if (r->is_nil()) return out;
  for (const auto& stream : r->elements) {
    if (stream.elements.size() != 2) continue;
    const std::string& name = stream.elements[0].str;
    for (const auto& entry : stream.elements[1].elements) {
      Delivery d;
      if (ToDelivery(name, entry, &d)) {
        out.push_back(std::move(d));
      } else if (entry.is_array() && !entry.elements.empty()) {
        // Trimmed away (nil fields) or not ours: nothing to push; drop it from the pending list.
        spdlog::warn("dropping unreadable delivery {} {}", name, entry.elements[0].str);
        Run({"XACK", name, kGroup, entry.elements[0].str});
      }
    }
  }
  return out;
}

Result<std::vector<Delivery>> RedisDeliveryQueue::ReadPending(int count) {
  auto r = ReadGroup(count, 0, pending_cursor_);
  if (!r.ok()) return r;
  if (r->empty()) {
    pending_cursor_.assign(streams_.size(), "0");
    return r;
  }
  for (const Delivery& d : *r) {
    for (size_t i = 0; i < streams_.size(); ++i) {
      if (streams_[i] == d.stream) pending_cursor_[i] = d.entry_id;
    }
  }
  return r;
}

void RedisDeliveryQueue::RewindPending() { pending_cursor_.assign(streams_.size(), "0"); }

Result<std::vector<Delivery>> RedisDeliveryQueue::ReadNew(int count, int block_ms) {
  return ReadGroup(count, block_ms, std::vector<std::string>(streams_.size(), ">"));
}

Result<std::vector<Delivery>> RedisDeliveryQueue::ClaimStale(int64_t min_idle_ms, int count) {
  std::vector<Delivery> out;
  for (const auto& s : streams_) {
    auto r = Run({"XAUTOCLAIM", s, kGroup, consumer_, std::to_string(min_idle_ms), "0-0", "COUNT",
                  std::to_string(count)});
    if (!r.ok()) return r.status();
    if (!r->is_array() || r->elements.size() < 2) continue;
    for (const auto& entry : r->elements[1].elements) {
      Delivery d;
      if (ToDelivery(s, entry, &d)) out.push_back(std::move(d));
    }
    // Entries deleted by trimming come back in the third element; they have nothing to push.
  }
  return out;
}

Status RedisDeliveryQueue::Ack(const std::vector<const Delivery*>& done) {
  if (done.empty()) return Status::Ok();
  if (Status s = EnsureConnected(); !s.ok()) return s;
  std::vector<std::vector<std::string>> cmds;
  for (const auto& s : streams_) {
    std::vector<std::string> cmd = {"XACK", s, kGroup};
    for (const Delivery* d : done) {
      if (d->stream == s) cmd.push_back(d->entry_id);
    }
    if (cmd.size() > 3) cmds.push_back(std::move(cmd));
  }
  auto r = conn_->Pipeline(cmds);
  return r.ok() ? Status::Ok() : r.status();
}

}  // namespace courier
