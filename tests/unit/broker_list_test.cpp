// The broker list (common/broker_list.h): the brokers file's format, the three configuration
// sources and their precedence, the pairing of internal and public addresses, the assignment
// (the ring's), and reloading a rewritten file.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include "common/broker_list.h"

namespace courier {
namespace {

BrokerAddress Addr(const std::string& host, int port) { return {host, port}; }

// A file under the system's temporary directory, removed when the test ends.
class TempFile {
 public:
  TempFile() {
    char name[] = "/tmp/courier-brokers-XXXXXX";
    int fd = mkstemp(name);
    REQUIRE(fd >= 0);
    close(fd);
    path_ = name;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  void Write(const std::string& text) const {
    std::ofstream out(path_, std::ios::trunc);
    out << text;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

TEST_CASE("the brokers file: one broker a line, an optional public address, comments") {
  auto entries = ParseBrokerFile(
      "# brokers\n"
      "10.0.0.1:1883   mqtt1.example.com:8883\n"
      "\n"
      "  10.0.0.2:1883 # no public address: the internal one\r\n"
      "[::1]:1884\n");
  REQUIRE(entries.ok());
  REQUIRE(entries->size() == 3);
  CHECK((*entries)[0].internal == Addr("10.0.0.1", 1883));
  CHECK((*entries)[0].advertised == Addr("mqtt1.example.com", 8883));
  CHECK((*entries)[1].advertised == (*entries)[1].internal);
  CHECK((*entries)[2].internal == Addr("::1", 1884));
}

TEST_CASE("a malformed brokers file says which line is wrong") {
  auto three = ParseBrokerFile("a:1\nb:2 c:3 d:4\n");
  REQUIRE_FALSE(three.ok());
  CHECK(three.status().message().find("line 2") != std::string::npos);
  auto bad_port = ParseBrokerFile("a:1\n\nb:99999\n");
  REQUIRE_FALSE(bad_port.ok());
  CHECK(bad_port.status().message().find("line 3") != std::string::npos);
  CHECK(bad_port.status().message().find("port") != std::string::npos);
  auto bad_public = ParseBrokerFile("a:1 nohost\n");
  REQUIRE_FALSE(bad_public.ok());
  CHECK(bad_public.status().message().find("line 1") != std::string::npos);
  CHECK_FALSE(ParseBrokerFile("").ok());
  CHECK_FALSE(ParseBrokerFile("# only a comment\n\n").ok());
}

TEST_CASE("a broker list refuses duplicates, internal or public") {
  CHECK_FALSE(BrokerList::Create({}).ok());
  CHECK_FALSE(
      BrokerList::Create({{Addr("a", 1), Addr("x", 1)}, {Addr("A", 1), Addr("y", 1)}}).ok());
  auto public_twice =
      BrokerList::Create({{Addr("a", 1), Addr("x", 1)}, {Addr("b", 1), Addr("x", 1)}});
  REQUIRE_FALSE(public_twice.ok());
  CHECK(public_twice.status().message().find("x:1") != std::string::npos);
  CHECK_FALSE(BrokerList::Create({{Addr("a", 0), Addr("x", 1)}}).ok());
}

TEST_CASE("a broker list assigns users as the ring does, whatever the order of the list") {
  std::vector<BrokerEntry> entries = {{Addr("10.0.0.1", 1883), Addr("m1.example", 8883)},
                                      {Addr("10.0.0.2", 1883), Addr("m2.example", 8883)},
                                      {Addr("10.0.0.3", 1883), Addr("m3.example", 8883)}};
  auto list = BrokerList::Create(entries);
  REQUIRE(list.ok());
  std::vector<BrokerEntry> reversed(entries.rbegin(), entries.rend());
  auto other = BrokerList::Create(reversed);
  REQUIRE(other.ok());
  auto ring = BrokerRing::Create({entries[0].internal, entries[1].internal, entries[2].internal});
  REQUIRE(ring.ok());
  std::map<std::string, int> per_broker;
  for (int i = 0; i < 3000; ++i) {
    const std::string user = "user" + std::to_string(i);
    const BrokerEntry& e = list->For(user);
    CHECK(e.internal == ring->BrokerFor(user));
    CHECK(other->For(user) == e);
    ++per_broker[e.advertised.host];
  }
  for (const auto& [host, n] : per_broker) CHECK(n > 800);  // about 1000 each
  CHECK(list->Find(Addr("10.0.0.2", 1883))->advertised == Addr("m2.example", 8883));
  CHECK(list->Find(Addr("10.0.0.9", 1883)) == nullptr);
  CHECK(list->ToString() ==
        "10.0.0.1:1883 (public m1.example:8883), 10.0.0.2:1883 (public m2.example:8883), "
        "10.0.0.3:1883 (public m3.example:8883)");
}

TEST_CASE("configuration: the single broker flags are a list of one") {
  MqttConfig mqtt;
  mqtt.host = "127.0.0.1";
  mqtt.port = 1883;
  auto one = LoadBrokerList(mqtt);
  REQUIRE(one.ok());
  REQUIRE(one->size() == 1);
  CHECK(one->For("anyone").advertised == Addr("127.0.0.1", 1883));
  mqtt.public_host = "Chat.Example.com";
  mqtt.public_port = 8883;
  auto advertised = LoadBrokerList(mqtt);
  REQUIRE(advertised.ok());
  CHECK(advertised->For("anyone").internal == Addr("127.0.0.1", 1883));
  CHECK(advertised->For("anyone").advertised == Addr("chat.example.com", 8883));
}

TEST_CASE("configuration: --mqtt-brokers with --mqtt-public-brokers, paired in order") {
  MqttConfig mqtt;
  mqtt.brokers = "10.0.0.1:1883, 10.0.0.2:1883";
  auto same = LoadBrokerList(mqtt);
  REQUIRE(same.ok());
  CHECK(same->entries()[1].advertised == Addr("10.0.0.2", 1883));
  mqtt.public_brokers = "m1.example:8883,m2.example:8883";
  auto paired = LoadBrokerList(mqtt);
  REQUIRE(paired.ok());
  CHECK(paired->entries()[1].advertised == Addr("m2.example", 8883));
  mqtt.public_brokers = "m1.example:8883";
  auto short_list = LoadBrokerList(mqtt);
  REQUIRE_FALSE(short_list.ok());
  CHECK(short_list.status().message().find("pair up") != std::string::npos);
  mqtt.brokers = "10.0.0.1:1883,,10.0.0.2:1883";
  CHECK_FALSE(LoadBrokerList(mqtt).ok());
  MqttConfig only_public;
  only_public.public_brokers = "m1.example:8883";
  CHECK_FALSE(LoadBrokerList(only_public).ok());
}

TEST_CASE("configuration: the brokers file wins, and a reload picks up its new content") {
  TempFile file;
  file.Write("10.0.0.1:1883\n10.0.0.2:1883\n");
  MqttConfig mqtt;
  mqtt.brokers = "10.9.9.9:1883";  // ignored: the file wins
  mqtt.brokers_file = file.path();
  auto initial = LoadBrokerList(mqtt);
  REQUIRE(initial.ok());
  CHECK(initial->size() == 2);
  ReloadableBrokerList live(mqtt, *initial);
  CHECK(live.version() == 0);

  auto unchanged = live.Reload();
  REQUIRE(unchanged.ok());
  CHECK_FALSE(*unchanged);
  CHECK(live.version() == 0);

  std::shared_ptr<const BrokerList> before = live.Current();
  file.Write("10.0.0.1:1883\n10.0.0.2:1883\n10.0.0.3:1883\n");
  auto grown = live.Reload();
  REQUIRE(grown.ok());
  CHECK(*grown);
  CHECK(live.version() == 1);
  CHECK(live.Current()->size() == 3);
  CHECK(before->size() == 2);  // a snapshot in use does not change
  // Adding a broker moves users only to it.
  for (int i = 0; i < 500; ++i) {
    const std::string user = "u" + std::to_string(i);
    const BrokerEntry& now = live.Current()->For(user);
    if (!(now == before->For(user))) CHECK(now.internal == Addr("10.0.0.3", 1883));
  }

  file.Write("10.0.0.1:1883 10.0.0.2:1883 10.0.0.3:1883\n");
  auto broken = live.Reload();
  REQUIRE_FALSE(broken.ok());
  CHECK(broken.status().message().find(file.path()) != std::string::npos);
  CHECK(live.Current()->size() == 3);  // kept
  CHECK(live.version() == 1);

  MqttConfig missing;
  missing.brokers_file = file.path() + ".missing";
  CHECK_FALSE(LoadBrokerList(missing).ok());
}

}  // namespace courier
