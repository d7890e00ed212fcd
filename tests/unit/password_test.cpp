#include <doctest/doctest.h>

#include "common/password.h"

namespace courier {

TEST_CASE("passwords verify against their salted hash only") {
  std::string h1 = HashPassword("correct horse", 1000);
  std::string h2 = HashPassword("correct horse", 1000);
  CHECK(h1 != h2);  // salted
  CHECK(h1.rfind("pbkdf2-sha256$1000$", 0) == 0);
  CHECK(VerifyPassword("correct horse", h1));
  CHECK(VerifyPassword("correct horse", h2));
  CHECK_FALSE(VerifyPassword("correct horsE", h1));
  CHECK_FALSE(VerifyPassword("", h1));
}

TEST_CASE("malformed stored hashes never verify") {
  std::string good = HashPassword("pw", 1000);
  for (const std::string& bad :
       {std::string(), std::string("pw"), std::string("pbkdf2-sha256$1000$$"),
        std::string("md5$1000$abc$def"), std::string("pbkdf2-sha256$-1$YQ$YQ"),
        std::string("pbkdf2-sha256$99999999999$YQ$YQ"), std::string("pbkdf2-sha256$x$YQ$YQ"),
        good + "$", good.substr(0, good.size() - 2)}) {
    CHECK_FALSE(VerifyPassword("pw", bad));
  }
}

}  // namespace courier
