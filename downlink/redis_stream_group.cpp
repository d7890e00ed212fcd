#include "downlink/redis_stream_group.h"

#include "common/log.h"

namespace courier {

namespace {

// One entry [id, [field, value, ...]]; false for an entry trimmed away (nil fields).
bool ToEntry(const std::string& stream, const RedisValue& v, StreamEntry* e) {
  if (!v.is_array() || v.elements.size() != 2 || !v.elements[1].is_array()) return false;
  e->stream = stream;
  e->id = v.elements[0].str;
  const auto& f = v.elements[1].elements;
  for (size_t i = 0; i + 1 < f.size(); i += 2) e->fields.emplace_back(f[i].str, f[i + 1].str);
  return true;
}

}  // namespace

const std::string& StreamEntry::Field(std::string_view name) const {
  static const std::string kEmpty;
  for (const auto& [k, v] : fields) {
    if (k == name) return v;
  }
  return kEmpty;
}

RedisStreamGroup::RedisStreamGroup(RedisConfig redis, std::vector<std::string> streams,
                                   std::string group, std::string consumer)
    : redis_(std::move(redis)),
      streams_(std::move(streams)),
      group_(std::move(group)),
      consumer_(std::move(consumer)) {
  pending_cursor_.assign(streams_.size(), "0");
}

Result<RedisConnection*> RedisStreamGroup::Connection() {
  if (conn_ == nullptr || conn_->broken()) {
    auto c = RedisConnection::Connect(redis_);
    if (!c.ok()) return c.status();
    conn_ = std::move(*c);
  }
  return conn_.get();
}

Result<RedisValue> RedisStreamGroup::Run(const std::vector<std::string>& command) {
  auto conn = Connection();
  if (!conn.ok()) return conn.status();
  auto r = (*conn)->Command(command);
  if (r.ok() && r->type == RedisValue::Type::kError) {
    if (r->str.rfind("NOGROUP", 0) == 0 || r->str.rfind("LOADING", 0) == 0) {
      return Status::Unavailable("redis: " + r->str);
    }
    return Status::Internal("redis " + command[0] + ": " + r->str);
  }
  return r;
}

Status RedisStreamGroup::EnsureGroups() {
  for (const auto& s : streams_) {
    auto r = Run({"XGROUP", "CREATE", s, group_, "0", "MKSTREAM"});
    if (!r.ok() && r.status().message().find("BUSYGROUP") == std::string::npos) {
      return r.status();
    }
  }
  return Status::Ok();
}

Result<std::vector<StreamEntry>> RedisStreamGroup::ReadGroup(int count, int block_ms,
                                                             const std::vector<std::string>& ids) {
  std::vector<std::string> cmd = {"XREADGROUP", "GROUP", group_,
                                  consumer_,    "COUNT", std::to_string(count)};
  if (block_ms > 0) {
    cmd.push_back("BLOCK");
    cmd.push_back(std::to_string(block_ms));
  }
  cmd.push_back("STREAMS");
  cmd.insert(cmd.end(), streams_.begin(), streams_.end());
  cmd.insert(cmd.end(), ids.begin(), ids.end());
  auto r = Run(cmd);
  if (!r.ok()) return r.status();
  std::vector<StreamEntry> out;
  if (r->is_nil()) return out;
  for (const auto& stream : r->elements) {
    if (stream.elements.size() != 2) continue;
    const std::string& name = stream.elements[0].str;
    for (const auto& v : stream.elements[1].elements) {
      StreamEntry e;
      if (ToEntry(name, v, &e)) {
        out.push_back(std::move(e));
      } else if (v.is_array() && !v.elements.empty()) {
        // Trimmed away while pending: nothing left to do; drop it from the pending list.
        spdlog::warn("dropping trimmed entry {} {}", name, v.elements[0].str);
        Run({"XACK", name, group_, v.elements[0].str});
      }
    }
  }
  return out;
}

Result<std::vector<StreamEntry>> RedisStreamGroup::ReadPending(int count) {
  auto r = ReadGroup(count, 0, pending_cursor_);
  if (!r.ok()) return r;
  if (r->empty()) {
    pending_cursor_.assign(streams_.size(), "0");
    return r;
  }
  for (const StreamEntry& e : *r) {
    for (size_t i = 0; i < streams_.size(); ++i) {
      if (streams_[i] == e.stream) pending_cursor_[i] = e.id;
    }
  }
  return r;
}

void RedisStreamGroup::RewindPending() { pending_cursor_.assign(streams_.size(), "0"); }

Result<std::vector<StreamEntry>> RedisStreamGroup::ReadNew(int count, int block_ms) {
  return ReadGroup(count, block_ms, std::vector<std::string>(streams_.size(), ">"));
}

Result<std::vector<StreamEntry>> RedisStreamGroup::ClaimStale(int64_t min_idle_ms, int count) {
  std::vector<StreamEntry> out;
  for (const auto& s : streams_) {
    auto r = Run({"XAUTOCLAIM", s, group_, consumer_, std::to_string(min_idle_ms), "0-0", "COUNT",
                  std::to_string(count)});
    if (!r.ok()) return r.status();
    if (!r->is_array() || r->elements.size() < 2) continue;
    for (const auto& v : r->elements[1].elements) {
      StreamEntry e;
      if (ToEntry(s, v, &e)) out.push_back(std::move(e));
    }
    // Entries deleted by trimming come back in the third element; nothing to do for them.
  }
  return out;
}

Status RedisStreamGroup::Ack(const std::vector<std::pair<std::string, std::string>>& done) {
  if (done.empty()) return Status::Ok();
  auto conn = Connection();
  if (!conn.ok()) return conn.status();
  std::vector<std::vector<std::string>> cmds;
  for (const auto& s : streams_) {
    std::vector<std::string> cmd = {"XACK", s, group_};
    for (const auto& [stream, id] : done) {
      if (stream == s) cmd.push_back(id);
    }
    if (cmd.size() > 3) cmds.push_back(std::move(cmd));
  }
  auto r = (*conn)->Pipeline(cmds);
  return r.ok() ? Status::Ok() : r.status();
}

}  // namespace courier
