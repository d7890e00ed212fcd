// BrokerRouter: the Publisher of a downlink whose devices are spread over several brokers
// (issue #6). It holds one connection per broker of the current list and sends each message
// where its route says (OutgoingMessage::Route):
//   - kUser (inbox pushes, a device's session.kicked notice): to the broker the user is assigned
//     (BrokerList::For), on one connection, in the order given, so per-user push order holds;
//   - kEveryBroker (room messages, room_leave and kick commands): to every broker. A room's
//     members may sit on any broker, and so may a device whose user has just been moved; see
//     docs/scaling.md for why rooms go to every broker rather than to the brokers of their members.
// A message counts as acknowledged only when every broker it went to sent PUBACK.
//
// A broker that is down does not hold up the others: its messages fail at once (no waiting for a
// connection that is not there), connects never block (each EnsureConnected() starts or checks
// them; a failed one is retried after 100 ms doubling to 5 s), and the PUBACKs of all brokers
// are awaited together, so a batch takes at most the publish timeout however many brokers there
// are. EnsureConnected() waits (up to 3 s) and fails only when no broker is connected.
//
// Failures are counted in courier_broker_errors_total (common/error_counter.h): op "connect" (a
// connect refused or not answered in time), "connection_lost" (a connected broker found
// disconnected), "publish" (each message a broker did not acknowledge, or that waited for a broker
// that is down; it stays pending and is published again).
//
// The list is re-read from a ReloadableBrokerList at every EnsureConnected(): a new broker gets a
// connection, a removed one is disconnected, the others keep theirs.
//
// Thread-safety: not thread-safe; owned by the delivery worker's thread.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/broker_list.h"
#include "common/error_counter.h"
#include "common/metrics.h"
#include "downlink/broker_link.h"
#include "downlink/delivery.h"

namespace courier {

class BrokerRouter final : public Publisher {
 public:
  // Makes the link of one broker (its internal address). Called on the worker's thread.
  using LinkFactory = std::function<std::unique_ptr<BrokerLink>(const BrokerAddress& broker)>;

  // `brokers` and `metrics` must outlive the router. `publisher` names it in the metrics (the
  // shard worker's client id: each owned shard has a router of its own). Connects nothing yet.
  BrokerRouter(const ReloadableBrokerList* brokers, LinkFactory make_link, MetricsRegistry* metrics,
               const std::string& publisher);
  ~BrokerRouter() override;

  // Picks up a new broker list, then starts or checks the connects of the brokers that are not
  // connected and whose retry time has come. OK when at least one broker is connected; when none
  // is, waits up to 3 s for one, then Unavailable naming the brokers.
  Status EnsureConnected() override;
  std::vector<bool> PublishAll(const std::vector<OutgoingMessage>& messages,
                               int timeout_ms) override;
  bool TakeReconnected() override;
  bool PartlyUnavailable() const override;

  // The internal addresses ("host:port") of the brokers `message` goes to under the current
  // list, for tests and logs.
  std::vector<std::string> BrokersOf(const OutgoingMessage& message) const;

 private:
  struct Slot {
    BrokerAddress address;
    std::unique_ptr<BrokerLink> link;
    std::chrono::steady_clock::time_point retry_at{};
    std::chrono::milliseconds backoff{0};
    std::string last_error;  // "" while connected; logged when it changes
    // A connect was started and not yet seen through: the link must be asked again even once it
    // reports connected, so that it finishes (and logs) the connect.
    bool connecting = false;
  };

  void ApplyListIfChanged();

  const ReloadableBrokerList* brokers_;
  LinkFactory make_link_;
  std::shared_ptr<const BrokerList> list_;
  uint64_t list_version_ = 0;
  std::map<std::string, Slot> slots_;  // by internal address
  bool reconnected_ = false;
  Gauge& broker_count_;
  Gauge& connected_count_;
  ErrorCounter errors_;
};

}  // namespace courier
