// The MessageStore contract (tests/unit/message_store_contract.h) against RedisMessageStore over
// a real redis-server: the same checks that keep the in-memory fake of the unit tier honest.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>

#include "common/envelope.h"
#include "common/ids.h"
#include "common/keys.h"
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

// The one-to-one send reads the recipient's side in the round trip of send_begin, which opens
// the send's record (docs/design.md, "The send path"). A request that died right after it left
// an open record: its retry, past the lease, checks again.
TEST_CASE(
    "store contract: a retried send refused by a block that landed meanwhile leaves nothing, "
    "unless its history entry was written") {
  TestStack stack(RedisOnly());
  RedisPool pool(stack.redis_config(), 2);
  RedisMessageStore store(&pool, StorePolicy{});
  StoreContract t(&store);
  Caller a = t.User("a"), b = t.User("b");
  const std::string conv = DirectConversation("a", "b");
  // send_begin as a dead request ran it at t=1000 ms with a 1 ms lease; the message id is the
  // one StoreContract::Send gives the cmid.
  auto open = [&](const std::string& cmid) {
    Message m{"id-a-" + cmid, conv, "a", "user:b", cmid, "text", "1", 1000};
    EnvelopeParts parts = EncodeMessageParts(m);
    auto r =
        pool.Eval(RedisScript("send_begin"),
                  {keys::Session("a", a.session_id), keys::Cmid("a", cmid), keys::SendRate("a"),
                   keys::Friends("a")},
                  {m.id, conv, "1000", parts.head, parts.tail, "b", "3600", "50", "100", "0", "1"});
    REQUIRE(r.ok());
    REQUIRE(r->elements.size() == 1);
    CHECK(r->elements[0].str == "ok");
    return std::make_pair(m, parts);
  };
  auto cmid_record = [&](const std::string& cmid) {
    auto r = pool.Command({"EXISTS", keys::Cmid("a", cmid)});
    REQUIRE(r.ok());
    return r->integer;
  };

  SUBCASE("opened only: the retry is refused, the record is gone") {
    open("c1");
    REQUIRE(pool.Command({"SADD", keys::Blocks("b"), "a"}).ok());
    auto retry = t.Send(a, "b", "c1", "1", 5000);
    CHECK(retry.status().code() == Status::Code::kBlocked);
    CHECK(cmid_record("c1") == 0);
    CHECK(t.SyncAll(b).empty());
    CHECK(t.SyncAll(a).empty());
  }
  SUBCASE("history written: the block came after the check, the retry finishes the send") {
    auto [m, parts] = open("c2");
    auto seq = pool.Eval(RedisScript("conv_append"),
                         {keys::ConversationMeta(conv), keys::ConversationLog(conv),
                          keys::ConversationOperation(conv, m.id)},
                         {parts.head, parts.tail, "3600", "a"});
    REQUIRE(seq.ok());
    REQUIRE(seq->is_integer());
    REQUIRE(pool.Command({"SADD", keys::Blocks("b"), "a"}).ok());
    auto retry = t.Send(a, "b", "c2", "1", 5000);
    REQUIRE_MESSAGE(retry.ok(), retry.status().ToString());
    CHECK(retry->duplicate);  // the original send's answer (200)
    CHECK(retry->id == m.id);
    CHECK(retry->conv_seq == seq->integer);
    auto inbox = t.SyncAll(b);
    REQUIRE(inbox.size() == 1);
    CHECK(inbox[0]["id"] == m.id);
    CHECK(t.SyncAll(a).size() == 1);
  }
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
  Caller c{"a", "d", "s", ""};
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
