// The broker plugin's Redis: session liveness at CONNECT and the online state of devices
// (common/keys.h: Session, Online, LastSeen).
//
// keys::Online(user) is a hash device_id -> online-until (ms since the Unix epoch). The whole
// hash expires `presence_ttl` after its last write, but a field can outlive its device while a
// sibling device keeps refreshing the hash; readers must treat a field whose value is in the
// past as offline.
//
// Blocking hiredis with bounded timeouts: every call waits at most `timeout_ms` for the connect
// and for each reply. The connection is opened lazily and dropped on any I/O error. After a
// failed connect or a timeout, calls fail at once for kReconnectBackoffMs before the next
// attempt, so that a dead or hung Redis cannot stall the broker's event loop (which serves every
// connection) once per CONNECT of a reconnect storm. A kept connection that turns out closed
// (Redis restarted) is replaced and the call retried once, immediately; every command here is
// idempotent, so the retry is safe.
//
// Thread-safety: not thread-safe; one owner (the plugin, on Mosquitto's main thread).
#pragma once

#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "downlink/broker_plugin/client_registry.h"

namespace courier::broker {

struct RedisContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
struct RedisReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using RedisContextPtr = std::unique_ptr<redisContext, RedisContextDeleter>;
using RedisReplyPtr = std::unique_ptr<redisReply, RedisReplyDeleter>;

class RedisPresenceStore {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    int port = 6379;
    int timeout_ms = 200;
    int64_t presence_ttl_ms = 90'000;
  };

  static constexpr int64_t kReconnectBackoffMs = 1000;

  explicit RedisPresenceStore(Options options);
  RedisPresenceStore(const RedisPresenceStore&) = delete;
  RedisPresenceStore& operator=(const RedisPresenceStore&) = delete;

  // Opens the connection now rather than on first use. OK or Unavailable.
  Status Connect();

  // In one round trip (a Lua script): if keys::Session(user, session) exists, marks the device
  // online until now_ms + ttl and returns true; returns false when the session has ended.
  // Unavailable when Redis can't be reached or answers with an error.
  Result<bool> CheckSessionAndMarkOnline(std::string_view user_id, std::string_view session_id,
                                         std::string_view device_id, int64_t now_ms);

  // Removes the devices' online marks and sets their users' last-seen time, pipelined.
  Status MarkOffline(const std::vector<DeviceRef>& devices, int64_t now_ms);

  // Extends the online mark of every device to now_ms + ttl, pipelined (two commands a device).
  Status RefreshOnline(const std::vector<DeviceRef>& devices, int64_t now_ms);

 private:
  using Command = std::vector<std::string>;

  Status EnsureConnected();
  // Sends the commands in one batch and reads every reply, error replies included. Unavailable
  // when Redis can't be reached or the connection breaks (it is dropped).
  Result<std::vector<RedisReplyPtr>> Pipeline(const std::vector<Command>& commands);
  Result<std::vector<RedisReplyPtr>> PipelineOnce(const std::vector<Command>& commands);
  // Drops the connection after an I/O error; remembers whether the peer had closed it.
  Status Disconnect(std::string_view what);

  Options options_;
  std::string script_sha1_;
  RedisContextPtr context_;
  bool last_failure_was_closed_connection_ = false;
  std::chrono::steady_clock::time_point next_connect_attempt_{};
};

}  // namespace courier::broker
