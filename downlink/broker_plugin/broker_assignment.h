// BrokerAssignment: which users' devices this broker serves when several brokers share them
// (issue #6), and what the plugin tells a device whose user belongs elsewhere.
//
// The plugin knows the broker list (plugin_opt_brokers_file, or plugin_opt_brokers) and its own
// internal address in it (plugin_opt_broker_id). A device whose user the list assigns to another
// broker is refused at CONNECT (Mosquitto 2.0.11 lets a basic-auth plugin answer only "not
// authorized": CONNACK 5, or reason code 0x87 to an MQTT 5 client; 0x9C "use another server" is
// not available to it), and when a reload moves a connected device's user, the device is told
// (a broker.moved control event on its device topic) and then disconnected. The service account
// is never refused: the downlink publishes to every broker.
//
// Pure code; thread-safe (immutable after construction).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/broker_list.h"
#include "downlink/broker_plugin/client_registry.h"

namespace courier::broker {

class BrokerAssignment {
 public:
  // Not sharded: every user belongs here (one broker, or a clustered broker).
  BrokerAssignment() = default;
  // Sharded over `list`, this broker being `self`. `self` may be missing from the list (the
  // broker is being taken out): then no user belongs here.
  BrokerAssignment(BrokerList list, BrokerAddress self);

  bool sharded() const { return list_.has_value(); }
  // Whether the list names this broker (always true when not sharded).
  bool lists_self() const;
  // nullptr when the devices of `user_id` belong on this broker; else the broker they belong on
  // (valid as long as the assignment).
  const BrokerEntry* ElsewhereFor(std::string_view user_id) const;
  // The same list and self.
  bool operator==(const BrokerAssignment& other) const;
  // "not sharded", or "broker a:1 of a:1, b:2" for logs.
  std::string ToString() const;

 private:
  std::optional<BrokerList> list_;
  BrokerAddress self_;
};

// The devices among `devices` whose user `assignment` places on another broker, each with that
// broker.
struct MovedDevice {
  DeviceRef device;
  BrokerEntry to;
};
std::vector<MovedDevice> MovedDevices(const BrokerAssignment& assignment,
                                      const std::vector<DeviceRef>& devices);

// The control envelope a moved device receives on its device topic:
// {"type":"control","event":"broker.moved","host":…,"port":…,"ts":…} with the public address
// of its new broker. The SDK asks the uplink (GET /v1/mqtt) before it reconnects.
std::string BrokerMovedEvent(const BrokerEntry& to, int64_t now_ms);

}  // namespace courier::broker
