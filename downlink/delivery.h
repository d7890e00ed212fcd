// The delivery queue and the publisher, as interfaces of the delivery worker, and the shape of
// one delivery. A delivery is written by the uplink into a Redis Stream in the same atomic
// script that stores the message (common/lua/), so a 2xx send always has its push queued.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace courier {

struct Delivery {
  // kInbox: `payload` on the user's inbox topic (an inbox entry, or a signal).
  // kControl: a session ended; tell the device and disconnect it.
  // kRoom: `payload` on the room's topic. kRoomLeave: the user left the room; the broker must
  // stop delivering it to them.
  enum class Kind { kInbox, kControl, kRoom, kRoomLeave };
  std::string stream;    // where it came from, and where it is acknowledged
  std::string entry_id;  // stream entry id
  Kind kind = Kind::kInbox;
  std::string user_id;
  // kControl only: the device to tell and disconnect, the session that ended, and whether the
  // device is told (a device replacing its own session is not).
  std::string device_id;
  std::string session_id;
  bool notify = true;
  std::string room_id;  // kRoom and kRoomLeave
  std::string payload;  // the JSON to push
  // The uplink request that queued it (field "req"), for the log lines about pushing it; ""
  // for entries without one (fan-out, control, entries queued before request ids existed).
  std::string request_id;
};

// A consumer in the consumer group of one delivery stream shard, which this downlink owns (its
// lease; downlink/shard_coordinator.h). Not thread-safe: one worker owns it.
class DeliveryQueue {
 public:
  virtual ~DeliveryQueue() = default;
  // Creates the consumer group on the stream if missing (from the first entry).
  virtual Status EnsureGroups() = 0;
  // Makes the entries earlier owners of the shard read but did not acknowledge this consumer's
  // pending entries, so ReadPending() returns them, in stream order, before anything new.
  // Returns how many there were. REQUIRES: the shard's lease is this consumer's.
  virtual Result<int64_t> TakeOver() = 0;
  // This consumer's delivered-but-unacknowledged entries, oldest first, resuming after the
  // previous call's last entry; empty when all were returned (the next call starts over).
  virtual Result<std::vector<Delivery>> ReadPending(int count) = 0;
  // The next ReadPending() starts from this consumer's oldest pending entry again (after a
  // failure, entries already passed by the scan may be pending once more).
  virtual void RewindPending() = 0;
  // New entries, waiting up to `block_ms` for some.
  virtual Result<std::vector<Delivery>> ReadNew(int count, int block_ms) = 0;
  // Entries other consumers took but left unacknowledged for `min_idle_ms` (a dead downlink),
  // now owned by this consumer.
  virtual Result<std::vector<Delivery>> ClaimStale(int64_t min_idle_ms, int count) = 0;
  // Conflict, acknowledging nothing, once the shard's lease is no longer this consumer's.
  virtual Status Ack(const std::vector<const Delivery*>& done) = 0;
};

struct OutgoingMessage {
  // Which brokers carry it when devices are spread over several (downlink/broker_router.h):
  // kUser the broker `user_id` is assigned to; kEveryBroker all of them (rooms, whose members
  // may be on any broker, and control commands for a device that may not have moved yet).
  enum class Route { kUser, kEveryBroker };
  std::string topic;
  std::string payload;
  Route route = Route::kUser;
  std::string user_id;
};

// An MQTT connection that publishes at QoS 1. Not thread-safe: one worker owns it (each delivery
// shard's worker has its own, from the PublisherFactory main() passes to the coordinator).
class Publisher {
 public:
  virtual ~Publisher() = default;
  // Connects if not connected. Unavailable while the broker is unreachable.
  virtual Status EnsureConnected() = 0;
  // Publishes all messages in order and waits up to `timeout_ms` for their PUBACKs.
  // Element i is true when message i was acknowledged by the broker.
  virtual std::vector<bool> PublishAll(const std::vector<OutgoingMessage>& messages,
                                       int timeout_ms) = 0;
  // True once after a broker connection that had been lost (or never made) was made again, so
  // the caller publishes what that broker missed, still pending, before anything new.
  virtual bool TakeReconnected() { return false; }
  // True while some brokers are unreachable and others work (several brokers): failed
  // messages then concern the unreachable ones, and the caller should go on with the rest
  // rather than retry the failures at once.
  virtual bool PartlyUnavailable() const { return false; }
};

// Makes a new, not yet connected Publisher that connects with MQTT client id `client_id` (one
// per delivery shard, distinct across downlinks). Called on the shard coordinator's thread;
// the publisher is then used by one shard's thread only. main() wires the real one.
using PublisherFactory = std::function<std::unique_ptr<Publisher>(const std::string& client_id)>;

}  // namespace courier
