// The broker plugin's side of broker sharding (downlink/broker_plugin/broker_assignment.h and
// the options): which users belong on this broker, which connected devices a new list moves,
// what they are told, and the options that name the list and the broker.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "downlink/broker_plugin/broker_assignment.h"
#include "downlink/broker_plugin/plugin_options.h"

namespace courier::broker {
namespace {

BrokerList ListOf(const std::vector<std::string>& brokers) {
  std::vector<BrokerEntry> entries;
  for (const std::string& b : brokers) {
    BrokerAddress a = *ParseBrokerAddress(b);
    entries.push_back({a, {"public-" + a.host, a.port + 1000}});
  }
  return *BrokerList::Create(entries);
}

const std::vector<std::string> kThree = {"10.0.0.1:1883", "10.0.0.2:1883", "10.0.0.3:1883"};

}  // namespace

TEST_CASE("unsharded, every user belongs here") {
  BrokerAssignment none;
  CHECK_FALSE(none.sharded());
  CHECK(none.lists_self());
  CHECK(none.ElsewhereFor("anyone") == nullptr);
  CHECK(MovedDevices(none, {{"a", "phone"}}).empty());
  CHECK(none.ToString() == "not sharded");
}

TEST_CASE("sharded, a user belongs on exactly one of the brokers") {
  BrokerList list = ListOf(kThree);
  std::vector<BrokerAssignment> brokers;
  for (const std::string& b : kThree) brokers.emplace_back(list, *ParseBrokerAddress(b));
  for (int i = 0; i < 300; ++i) {
    const std::string user = "user" + std::to_string(i);
    int home = 0;
    for (const BrokerAssignment& a : brokers) {
      const BrokerEntry* elsewhere = a.ElsewhereFor(user);
      if (elsewhere == nullptr) {
        ++home;
      } else {
        CHECK(elsewhere->internal == list.For(user).internal);  // and it names that one
      }
    }
    CHECK(home == 1);
  }
  CHECK(brokers[0].lists_self());
  CHECK(brokers[0] == BrokerAssignment(list, *ParseBrokerAddress(kThree[0])));
  CHECK_FALSE(brokers[0] == brokers[1]);
  CHECK_FALSE(brokers[0] == BrokerAssignment());
}

TEST_CASE("a new list moves the devices of the users it assigns elsewhere, and only those") {
  const BrokerAddress self = *ParseBrokerAddress(kThree[0]);
  BrokerAssignment before(ListOf(kThree), self);
  std::vector<std::string> four = kThree;
  four.push_back("10.0.0.4:1883");
  BrokerAssignment after(ListOf(four), self);
  std::vector<DeviceRef> here;
  for (int i = 0; i < 400; ++i) {
    const std::string user = "u" + std::to_string(i);
    if (before.ElsewhereFor(user) == nullptr) {
      here.push_back({user, "phone"});
      here.push_back({user, "desk"});
    }
  }
  std::vector<MovedDevice> moved = MovedDevices(after, here);
  CHECK(!moved.empty());
  CHECK(moved.size() < here.size() / 2);
  for (const MovedDevice& m : moved) {
    CHECK(m.to.internal == *ParseBrokerAddress("10.0.0.4:1883"));
    CHECK(m.to.advertised == BrokerAddress{"public-10.0.0.4", 2883});
  }
  // Taken out of the list: every device goes.
  BrokerAssignment removed(ListOf({kThree[1], kThree[2]}), self);
  CHECK_FALSE(removed.lists_self());
  CHECK(MovedDevices(removed, here).size() == here.size());
}

TEST_CASE("broker.moved names the new broker's public address") {
  BrokerEntry to{{"10.0.0.4", 1883}, {"mqtt4.example.com", 8883}};
  nlohmann::json event = nlohmann::json::parse(BrokerMovedEvent(to, 1764892800123));
  CHECK(event == nlohmann::json{{"type", "control"},
                                {"event", "broker.moved"},
                                {"host", "mqtt4.example.com"},
                                {"port", 8883},
                                {"ts", 1764892800123}});
}

TEST_CASE("plugin options: the broker list and this broker's id go together") {
  const OptionList base = {{"jwt_secret_file", "/a"}};
  auto with = [&base](std::vector<std::pair<std::string, std::string>> more) {
    OptionList all = base;
    all.insert(all.end(), more.begin(), more.end());
    return ParsePluginOptions(all);
  };
  auto plain = with({});
  REQUIRE(plain.ok());
  CHECK_FALSE(LoadBrokerAssignment(*plain)->sharded());

  auto inline_list =
      with({{"brokers", "10.0.0.1:1883,10.0.0.2:1883"}, {"broker_id", "10.0.0.2:1883"}});
  REQUIRE(inline_list.ok());
  auto assignment = LoadBrokerAssignment(*inline_list);
  REQUIRE(assignment.ok());
  CHECK(assignment->sharded());
  CHECK(assignment->lists_self());

  auto no_id = with({{"brokers", "10.0.0.1:1883"}});
  REQUIRE_FALSE(no_id.ok());
  CHECK(no_id.status().message().find("plugin_opt_broker_id") != std::string::npos);
  CHECK_FALSE(with({{"broker_id", "10.0.0.1:1883"}}).ok());  // no list
  CHECK_FALSE(with({{"brokers", "10.0.0.1:1883"}, {"broker_id", "no-port"}}).ok());

  auto bad_list = with({{"brokers", "10.0.0.1:1883,,x"}, {"broker_id", "10.0.0.1:1883"}});
  REQUIRE(bad_list.ok());  // the list is read when the assignment is loaded
  CHECK_FALSE(LoadBrokerAssignment(*bad_list).ok());
  auto not_listed = with({{"brokers", "10.0.0.1:1883"}, {"broker_id", "10.0.0.9:1883"}});
  REQUIRE(not_listed.ok());
  CHECK_FALSE(LoadBrokerAssignment(*not_listed)->lists_self());  // init refuses it
  auto missing_file = with({{"brokers_file", "/nonexistent/brokers.list"}, {"broker_id", "a:1"}});
  REQUIRE(missing_file.ok());
  CHECK_FALSE(LoadBrokerAssignment(*missing_file).ok());
}

}  // namespace courier::broker
