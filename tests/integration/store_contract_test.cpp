// The MessageStore contract (tests/unit/message_store_contract.h) against RedisMessageStore over
// a real redis-server: the same checks that keep the in-memory fake of the unit tier honest.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>

#include "common/redis_client.h"
#include "common/redis_message_store.h"
#include "tests/support/test_stack.h"
#include "tests/unit/message_store_contract.h"

namespace courier::testing {
namespace {

TestStackOptions RedisOnly() {
  TestStackOptions o;
  o.start_broker = false;
  o.start_uplink = false;
  o.start_downlink = false;
  return o;
}

TEST_CASE("store contract: RedisMessageStore keeps the MessageStore contract on a real Redis") {
  // doctest runs this body once per SUBCASE of the contract; each run gets its own Redis and,
  // to be safe should that ever be shared, its own user ids.
  static int run = 0;
  const std::string prefix = "run" + std::to_string(++run) + "_";
  TestStack stack(RedisOnly());
  RedisPool pool(stack.redis_config(), 4);
  RedisMessageStore store(&pool, StorePolicy{});
  REQUIRE(store.Ping().ok());
  CheckMessageStoreContract(&store, prefix);
}

TEST_CASE(
    "store contract: RedisMessageStore reports Unavailable, not a crash, when Redis is gone") {
  TestStack stack(RedisOnly());
  RedisPool pool(stack.redis_config(), 2);
  RedisMessageStore store(&pool, StorePolicy{});
  REQUIRE(store.Ping().ok());
  stack.KillRedis();
  CHECK(store.Ping().code() == Status::Code::kUnavailable);
  CHECK(store.PasswordHash("anyone").status().code() == Status::Code::kUnavailable);
  Caller c{"a", "d", "s"};
  CHECK(store.Sync(c, 0, 10, "e").status().code() == Status::Code::kUnavailable);
  CHECK(store.CreateUser({"a", "h", "a", 1, "e"}).code() == Status::Code::kUnavailable);
  REQUIRE(stack.StartRedis().ok());
  // The pool fails fast for RedisPool::kFailFastMs after a failure, then tries again: back in
  // about that long, never stuck.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(3 * RedisPool::kFailFastMs);
  Status ping = store.Ping();
  while (!ping.ok() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ping = store.Ping();
  }
  CHECK_MESSAGE(ping.ok(), ping.ToString());
  CHECK(store.CreateUser({"a", "h", "a", 1, "e"}).ok());
}

}  // namespace
}  // namespace courier::testing
