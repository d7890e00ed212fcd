#include "downlink/broker_plugin/redis_presence_store.h"

#include <algorithm>
#include <utility>

#include "common/device_reports.h"
#include "common/keys.h"

namespace courier::broker {

namespace {

// KEYS[1] the session, KEYS[2] the user's online hash (one hash tag, so one cluster slot).
// ARGV[1] the device, ARGV[2] online-until in ms, ARGV[3] the ttl in ms, ARGV[4] now in ms.
// 0: the session has ended, or belongs to another device than the token names; 1: marked, the
// user had a live mark already; 2: marked, the user had none (came online).
constexpr std::string_view kMarkOnlineIfSessionScript = R"lua(
if redis.call('HGET', KEYS[1], 'device') ~= ARGV[1] then return 0 end
local now = tonumber(ARGV[4])
local was_online = false
for _, until_ms in ipairs(redis.call('HVALS', KEYS[2])) do
  local t = tonumber(until_ms)
  if t ~= nil and t > now then
    was_online = true
    break
  end
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
if was_online then return 1 end
return 2
)lua";

// KEYS[1] the user's online hash, KEYS[2] the user's last-seen string.
// ARGV[1] the device, ARGV[2] now in ms.
// 1: the device had a mark and no live mark is left (went offline); 0 otherwise.
constexpr std::string_view kMarkOfflineScript = R"lua(
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2])
if removed == 0 then return 0 end
local now = tonumber(ARGV[2])
for _, until_ms in ipairs(redis.call('HVALS', KEYS[1])) do
  local t = tonumber(until_ms)
  if t ~= nil and t > now then return 0 end
end
return 1
)lua";

const LuaScript& MarkOnlineIfSessionScript() {
  static const LuaScript script(kMarkOnlineIfSessionScript);
  return script;
}

const LuaScript& MarkOfflineScript() {
  static const LuaScript script(kMarkOfflineScript);
  return script;
}

}  // namespace

RedisPresenceStore::RedisPresenceStore(BoundedRedisConnection* redis, Options options)
    : redis_(redis), options_(options) {}

Result<RedisPresenceStore::SessionCheck> RedisPresenceStore::CheckSessionAndMarkOnline(
    std::string_view user_id, std::string_view session_id, std::string_view device_id,
    int64_t now_ms) {
  RedisCommand call = {keys::Session(user_id, session_id),
                       keys::Online(user_id),
                       std::string(device_id),
                       std::to_string(now_ms + options_.presence_ttl_ms),
                       std::to_string(options_.presence_ttl_ms),
                       std::to_string(now_ms)};
  Result<std::vector<RedisReplyPtr>> replies =
      redis_->EvalEach(MarkOnlineIfSessionScript(), /*num_keys=*/2, {std::move(call)});
  if (!replies.ok()) return replies.status();
  if (Status s = FirstErrorReply(*replies); !s.ok()) return s;
  const redisReply& reply = *replies->front();
  if (reply.type != REDIS_REPLY_INTEGER || reply.integer < 0 || reply.integer > 2) {
    return Status::Unavailable("unexpected reply from the session script");
  }
  switch (reply.integer) {
    case 0:
      return SessionCheck::kEnded;
    case 1:
      return SessionCheck::kOnline;
    default:
      return SessionCheck::kCameOnline;
  }
}

Result<std::vector<std::string>> RedisPresenceStore::MarkOffline(
    const std::vector<DeviceRef>& devices, int64_t now_ms) {
  std::vector<std::string> went_offline;
  if (devices.empty()) return went_offline;
  std::string now = std::to_string(now_ms);
  std::vector<RedisCommand> calls;
  calls.reserve(devices.size());
  for (const DeviceRef& d : devices) {
    calls.push_back({keys::Online(d.user_id), keys::LastSeen(d.user_id), d.device_id, now});
  }
  Result<std::vector<RedisReplyPtr>> replies =
      redis_->EvalEach(MarkOfflineScript(), /*num_keys=*/2, calls);
  if (!replies.ok()) return replies.status();
  if (Status s = FirstErrorReply(*replies); !s.ok()) return s;
  for (size_t i = 0; i < devices.size(); ++i) {
    const redisReply& reply = *(*replies)[i];
    if (reply.type == REDIS_REPLY_INTEGER && reply.integer == 1 &&
        std::find(went_offline.begin(), went_offline.end(), devices[i].user_id) ==
            went_offline.end()) {
      went_offline.push_back(devices[i].user_id);
    }
  }
  return went_offline;
}

Status RedisPresenceStore::RefreshOnline(const std::vector<DeviceRef>& devices, int64_t now_ms) {
  if (devices.empty()) return Status::Ok();
  std::string until = std::to_string(now_ms + options_.presence_ttl_ms);
  std::string ttl = std::to_string(options_.presence_ttl_ms);
  std::vector<RedisCommand> commands;
  commands.reserve(2 * devices.size());
  for (const DeviceRef& d : devices) {
    std::string online = keys::Online(d.user_id);
    commands.push_back({"HSET", online, d.device_id, until});
    commands.push_back({"PEXPIRE", std::move(online), ttl});
  }
  Result<std::vector<RedisReplyPtr>> replies = redis_->Pipeline(commands);
  if (!replies.ok()) return replies.status();
  return FirstErrorReply(*replies);
}

Status RedisPresenceStore::QueuePresenceChanges(const std::vector<PresenceChange>& changes) {
  if (changes.empty()) return Status::Ok();
  std::vector<RedisCommand> commands;
  commands.reserve(changes.size());
  for (const PresenceChange& change : changes) {
    commands.push_back(PresenceTaskCommand(change, options_.shards));
  }
  Result<std::vector<RedisReplyPtr>> replies = redis_->Pipeline(commands);
  if (!replies.ok()) return replies.status();
  return FirstErrorReply(*replies);
}

Status RedisPresenceStore::ReportDevices(const std::string& broker, size_t devices,
                                         int64_t now_ms) {
  std::string value =
      EncodeDeviceReport(static_cast<int64_t>(devices), now_ms + kDeviceReportValidMs);
  Result<std::vector<RedisReplyPtr>> replies =
      redis_->Pipeline({{"HSET", keys::BrokerDevices(), broker, std::move(value)}});
  if (!replies.ok()) return replies.status();
  return FirstErrorReply(*replies);
}

Status RedisPresenceStore::ForgetDevices(const std::string& broker) {
  Result<std::vector<RedisReplyPtr>> replies =
      redis_->Pipeline({{"HDEL", keys::BrokerDevices(), broker}});
  if (!replies.ok()) return replies.status();
  return FirstErrorReply(*replies);
}

}  // namespace courier::broker
