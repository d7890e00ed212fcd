#include <doctest/doctest.h>

#include "uplink/client_address.h"

namespace courier {

TEST_CASE("client address: IPv4 as is, IPv6 by its /64, mapped IPv4 as IPv4, junk as unknown") {
  CHECK(ClientAddressOwner("192.0.2.7") == "192.0.2.7");
  CHECK(ClientAddressOwner("127.0.0.2") == "127.0.0.2");
  CHECK(ClientAddressOwner("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64");
  CHECK(ClientAddressOwner("2001:0db8:0001:0002::ffff") == "2001:db8:1:2::/64");
  CHECK(ClientAddressOwner("::1") == "::/64");
  CHECK(ClientAddressOwner("::ffff:192.0.2.7") == "192.0.2.7");
  CHECK(ClientAddressOwner("fe80::1") == "fe80::/64");
  for (const char* junk : {"", "localhost", "192.0.2.256", "1.2.3", "{a:x}", "2001:db8::1%eth0",
                           "192.0.2.7 ", "::ffff:1.2.3.4.5"}) {
    CAPTURE(junk);
    CHECK(ClientAddressOwner(junk) == "unknown");
  }
  CHECK(ClientAddressOwner(std::string(100, '1')) == "unknown");
}

}  // namespace courier
