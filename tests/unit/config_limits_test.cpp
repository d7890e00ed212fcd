// The login and registration limit settings: flags, defaults and their validation.
#include <doctest/doctest.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <vector>

#include "common/config.h"

namespace courier {

namespace {

Status Parse(std::vector<std::string> args, Config* c) {
  CLI::App app;
  AddCommonFlags(app, c);
  AddUplinkFlags(app, c);
  std::vector<const char*> argv = {"courier-uplink"};
  for (const auto& a : args) argv.push_back(a.c_str());
  app.parse(static_cast<int>(argv.size()), argv.data());
  return FinishConfig(c);
}

}  // namespace

TEST_CASE("config: login and registration limits have valid defaults and their flags") {
  Config defaults;
  CHECK(FinishConfig(&defaults).ok());
  CHECK(defaults.limits.login_burst_per_user >= 1);

  Config c;
  REQUIRE(Parse({"--login-rate-per-user", "0.5", "--login-burst-per-user", "3",
                 "--login-rate-per-address", "2", "--login-burst-per-address", "7",
                 "--register-rate-per-address", "0.25", "--register-burst-per-address", "9"},
                &c)
              .ok());
  CHECK(c.limits.login_rate_per_user == 0.5);
  CHECK(c.limits.login_burst_per_user == 3);
  CHECK(c.limits.login_rate_per_address == 2);
  CHECK(c.limits.login_burst_per_address == 7);
  CHECK(c.limits.register_rate_per_address == 0.25);
  CHECK(c.limits.register_burst_per_address == 9);
}

TEST_CASE("config: login and registration limits out of range are refused") {
  auto with = [](auto set) {
    Config c;
    set(c.limits);
    return FinishConfig(&c);
  };
  CHECK(with([](Limits& l) { l.login_rate_per_user = 0; }).code() == Status::Code::kInvalidField);
  CHECK(with([](Limits& l) { l.login_rate_per_user = 0.00001; }).code() ==
        Status::Code::kInvalidField);
  CHECK(with([](Limits& l) { l.login_rate_per_user = 0.0001; }).ok());
  CHECK(with([](Limits& l) { l.login_rate_per_address = -1; }).code() ==
        Status::Code::kInvalidField);
  CHECK(with([](Limits& l) { l.register_rate_per_address = std::nan(""); }).code() ==
        Status::Code::kInvalidField);
  CHECK(with([](Limits& l) { l.login_rate_per_user = INFINITY; }).code() ==
        Status::Code::kInvalidField);
  CHECK(with([](Limits& l) { l.login_burst_per_user = 0; }).code() == Status::Code::kInvalidField);
  CHECK(with([](Limits& l) { l.login_burst_per_address = -5; }).code() ==
        Status::Code::kInvalidField);
  CHECK(with([](Limits& l) { l.register_burst_per_address = 2000000; }).code() ==
        Status::Code::kInvalidField);
}

}  // namespace courier
