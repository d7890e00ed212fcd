#include "downlink/redis_stream_group.h"

#include <algorithm>
#include <map>

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

// XAUTOCLAIM rounds in one ClaimAll; each claims up to kClaimPage entries.
constexpr int kClaimPage = 1000;
constexpr int kMaxClaimRounds = 10000;

}  // namespace

const std::string& StreamEntry::Field(std::string_view name) const {
  static const std::string kEmpty;
  for (const auto& [k, v] : fields) {
    if (k == name) return v;
  }
  return kEmpty;
}

RedisStreamGroup::RedisStreamGroup(RedisConfig redis, std::string stream, std::string lease_key,
                                   std::string group, std::string consumer)
    : redis_(std::move(redis)),
      stream_(std::move(stream)),
      lease_key_(std::move(lease_key)),
      group_(std::move(group)),
      consumer_(std::move(consumer)) {}

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

Status RedisStreamGroup::EnsureGroup() {
  auto r = Run({"XGROUP", "CREATE", stream_, group_, "0", "MKSTREAM"});
  if (!r.ok() && r.status().message().find("BUSYGROUP") == std::string::npos) return r.status();
  return Status::Ok();
}

Result<int64_t> RedisStreamGroup::ClaimAll() {
  // Who holds what (XPENDING's summary): nothing to do when only this consumer has entries.
  auto summary = Run({"XPENDING", stream_, group_});
  if (!summary.ok()) return summary.status();
  int64_t others = 0;
  if (summary->is_array() && summary->elements.size() == 4) {
    for (const RedisValue& c : summary->elements[3].elements) {
      if (c.elements.size() == 2 && c.elements[0].str != consumer_) {
        others += std::strtoll(c.elements[1].str.c_str(), nullptr, 10);
      }
    }
  }
  if (others == 0) return int64_t{0};
  std::string cursor = "0-0";
  for (int round = 0; round < kMaxClaimRounds; ++round) {
    auto r = Run({"XAUTOCLAIM", stream_, group_, consumer_, "0", cursor, "COUNT",
                  std::to_string(kClaimPage), "JUSTID"});
    if (!r.ok()) return r.status();
    if (!r->is_array() || r->elements.empty()) break;
    cursor = r->elements[0].str;
    if (cursor == "0-0" || cursor.empty()) break;
  }
  pending_cursor_ = "0";
  return others;
}

Result<std::vector<StreamEntry>> RedisStreamGroup::ReadGroup(int count, int block_ms,
                                                             const std::string& id) {
  std::vector<std::string> cmd = {"XREADGROUP", "GROUP", group_,
                                  consumer_,    "COUNT", std::to_string(count)};
  if (block_ms > 0) {
    cmd.push_back("BLOCK");
    cmd.push_back(std::to_string(block_ms));
  }
  cmd.insert(cmd.end(), {"STREAMS", stream_, id});
  auto r = Run(cmd);
  if (!r.ok()) return r.status();
  std::vector<StreamEntry> out;
  if (r->is_nil()) return out;
  for (const auto& stream : r->elements) {
    if (stream.elements.size() != 2) continue;
    for (const auto& v : stream.elements[1].elements) {
      StreamEntry e;
      if (ToEntry(stream_, v, &e)) {
        out.push_back(std::move(e));
      } else if (v.is_array() && !v.elements.empty()) {
        // Trimmed away while pending: nothing left to do; drop it from the pending list.
        spdlog::warn("dropping trimmed entry {} {}", stream_, v.elements[0].str);
        Run({"XACK", stream_, group_, v.elements[0].str});
      }
    }
  }
  return out;
}

Result<std::vector<StreamEntry>> RedisStreamGroup::ReadPending(int count) {
  auto r = ReadGroup(count, 0, pending_cursor_);
  if (!r.ok()) return r;
  pending_cursor_ = r->empty() ? "0" : r->back().id;
  return r;
}

void RedisStreamGroup::RewindPending() { pending_cursor_ = "0"; }

Result<std::vector<StreamEntry>> RedisStreamGroup::ReadNew(int count, int block_ms) {
  return ReadGroup(count, block_ms, ">");
}

Result<std::vector<StreamEntry>> RedisStreamGroup::ClaimStale(int64_t min_idle_ms, int count) {
  std::vector<StreamEntry> out;
  auto r = Run({"XAUTOCLAIM", stream_, group_, consumer_, std::to_string(min_idle_ms), "0-0",
                "COUNT", std::to_string(count)});
  if (!r.ok()) return r.status();
  if (!r->is_array() || r->elements.size() < 2) return out;
  for (const auto& v : r->elements[1].elements) {
    StreamEntry e;
    if (ToEntry(stream_, v, &e)) out.push_back(std::move(e));
  }
  // Entries deleted by trimming come back in the third element; nothing to do for them.
  return out;
}

namespace {

// "1700000000000-3" -> 1700000000000; 0 for anything else.
int64_t IdMs(const std::string& id) {
  return std::strtoll(id.substr(0, id.find('-')).c_str(), nullptr, 10);
}

}  // namespace

Result<StreamBacklog> RedisStreamGroup::Backlog() {
  auto conn = Connection();
  if (!conn.ok()) return conn.status();
  auto r = (*conn)->Pipeline({{"XPENDING", stream_, group_}, {"XINFO", "GROUPS", stream_}});
  if (!r.ok()) return r.status();
  StreamBacklog out;
  const RedisValue& summary = (*r)[0];
  if (summary.type == RedisValue::Type::kError) {
    // No stream or no group yet: nothing is waiting.
    if (summary.str.rfind("NOGROUP", 0) == 0) return out;
    return Status::Internal("redis XPENDING: " + summary.str);
  }
  if (summary.is_array() && summary.elements.size() == 4) {
    out.pending = summary.elements[0].integer;
    if (out.pending > 0) out.oldest_ms = IdMs(summary.elements[1].str);
  }
  const RedisValue& groups = (*r)[1];
  if (!groups.is_array()) return out;  // an error reply: no stream
  std::string last_delivered;
  bool lag_known = false;
  for (const RedisValue& g : groups.elements) {
    std::map<std::string, const RedisValue*> fields;
    for (size_t i = 0; i + 1 < g.elements.size(); i += 2) {
      fields[g.elements[i].str] = &g.elements[i + 1];
    }
    if (fields.count("name") == 0 || fields["name"]->str != group_) continue;
    if (fields.count("last-delivered-id") != 0) last_delivered = fields["last-delivered-id"]->str;
    if (fields.count("lag") != 0 && fields["lag"]->is_integer()) {
      out.unread = fields["lag"]->integer;
      lag_known = true;
    }
  }
  if (last_delivered.empty() || (lag_known && out.unread == 0)) return out;
  int count = lag_known ? 1 : kMaxUnreadCounted;
  auto unread = (*conn)->Command(
      {"XRANGE", stream_, "(" + last_delivered, "+", "COUNT", std::to_string(count)});
  if (!unread.ok()) return unread.status();
  if (!unread->is_array()) return out;
  if (!lag_known) out.unread = static_cast<int64_t>(unread->elements.size());
  if (!unread->elements.empty() && !unread->elements[0].elements.empty()) {
    int64_t first = IdMs(unread->elements[0].elements[0].str);
    out.oldest_ms = out.oldest_ms == 0 ? first : std::min(out.oldest_ms, first);
  }
  return out;
}

Status RedisStreamGroup::Ack(const std::vector<std::string>& ids) {
  if (ids.empty()) return Status::Ok();
  auto conn = Connection();
  if (!conn.ok()) return conn.status();
  std::vector<std::string> args = {consumer_, group_};
  args.insert(args.end(), ids.begin(), ids.end());
  auto r = (*conn)->Eval(ack_owned_, {lease_key_, stream_}, args);
  if (!r.ok()) return r.status();
  if (r->type == RedisValue::Type::kError) return Status::Internal("ack_owned: " + r->str);
  if (r->is_integer() && r->integer < 0) {
    return Status::Conflict("the lease of " + stream_ + " is no longer " + consumer_ + "'s");
  }
  return Status::Ok();
}

}  // namespace courier
