// The plugin's settings, from `plugin_opt_<key> <value>` lines in mosquitto.conf (Mosquitto
// strips the "plugin_opt_" prefix before handing them over).
//
// Pure parsing, plus reading the secret files; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/redis_cluster_routing.h"
#include "common/status.h"
#include "downlink/broker_plugin/broker_assignment.h"

namespace courier::broker {

struct PluginOptions {
  std::string jwt_secret_file;                   // jwt_secret_file: required; the HS256 secret
  std::string jwt_previous_secret_file;          // jwt_previous_secret_file: default none; also
                                                 // verifies, during a secret rotation
  std::string redis_host = "127.0.0.1";          // redis_host
  int redis_port = 6379;                         // redis_port
  std::vector<RedisNodeAddress> redis_cluster;   // redis_cluster: host:port[,host:port...];
                                                 // default none; set: Redis Cluster mode with
                                                 // these seeds (redis_host/port are ignored)
  int redis_timeout_ms = 200;                    // redis_timeout_ms: connect and each command; the
                                                 // broker's event loop waits at most this long
  std::string topic_root = "courier";            // topic_root
  std::string service_user = "courier-service";  // service_user: the downlink's account
  int presence_ttl_s = 90;  // presence_ttl_s: how long an online mark outlives its last refresh
  int shards = 4;           // shards: 1-1024; must equal the uplink's and downlink's
                            // delivery_shards: a user's presence tasks go to fan-out stream
                            // {fq:<DeliveryShard(user, shards)>}:fanout
  // Several brokers (broker_assignment.h); all three default to none (every user belongs here).
  std::string brokers_file;  // brokers_file: the uplinks' and downlinks' --mqtt-brokers-file,
                             // "<internal> [<public>]" a line; read again on SIGHUP
  std::string brokers;       // brokers: "host:port,..." when there is no file (fixed)
  std::string broker_id;     // broker_id: this broker's internal host:port as the list names it;
                             // required with either of the two above
};

using OptionList = std::vector<std::pair<std::string, std::string>>;

// Reads the options above by key. InvalidField naming the option when a required one is
// missing, a number is malformed or out of range, or a key is unknown (a typo would otherwise
// silently leave a default in place).
Result<PluginOptions> ParsePluginOptions(const OptionList& options);

// The broker list the options name, read now (the file, if one is named), with this broker's
// place in it; not sharded when none is named. InvalidField saying what is wrong with the list.
Result<BrokerAssignment> LoadBrokerAssignment(const PluginOptions& options);

}  // namespace courier::broker
