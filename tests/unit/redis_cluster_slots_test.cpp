#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "common/keys.h"
#include "common/redis_cluster_slots.h"

namespace courier {

namespace {

// An independent bitwise CRC16-XMODEM, to check the table-driven one on arbitrary keys.
uint16_t ReferenceSlot(std::string_view data) {
  uint16_t crc = 0;
  for (unsigned char c : data) {
    crc ^= static_cast<uint16_t>(c << 8);
    for (int i = 0; i < 8; ++i) {
      crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021)
                           : static_cast<uint16_t>(crc << 1);
    }
  }
  return crc % 16384;
}

RedisValue Int(long long v) {
  RedisValue r;
  r.type = RedisValue::Type::kInteger;
  r.integer = v;
  return r;
}

RedisValue Str(std::string s) {
  RedisValue r;
  r.type = RedisValue::Type::kString;
  r.str = std::move(s);
  return r;
}

RedisValue Arr(std::vector<RedisValue> elements) {
  RedisValue r;
  r.type = RedisValue::Type::kArray;
  r.elements = std::move(elements);
  return r;
}

RedisValue Node(std::string host, long long port, std::string id) {
  return Arr({Str(std::move(host)), Int(port), Str(std::move(id))});
}

RedisValue Entry(long long first, long long last, RedisValue master) {
  return Arr({Int(first), Int(last), std::move(master)});
}

// What `redis-cli --cluster create` makes of three masters with one replica each, in the order
// CLUSTER SLOTS lists it (not sorted by slot).
RedisValue ThreeMasters() {
  return Arr({
      Arr({Int(5461), Int(10922), Node("127.0.0.1", 30002, "b2"), Node("127.0.0.1", 30005, "r2")}),
      Arr({Int(0), Int(5460), Node("127.0.0.1", 30001, "b1"), Node("127.0.0.1", 30004, "r1")}),
      Arr({Int(10923), Int(16383), Node("127.0.0.1", 30003, "b3"), Node("127.0.0.1", 30006, "r3")}),
  });
}

}  // namespace

TEST_SUITE_BEGIN("redis_cluster_slots");

TEST_CASE("slot: KeySlot matches the Redis Cluster spec's CRC16") {
  CHECK(KeySlot("foo") == 12182);
  CHECK(KeySlot("bar") == 5061);
  CHECK(KeySlot("123456789") == 0x31C3 % 16384);
  CHECK(KeySlot("123456789") == 12739);
  CHECK(KeySlot("") == 0);
  for (const char* key : {"a", "hello", "u:alice}x{", "\xff\x00\x80", "somewhat/longer:key:1"}) {
    CHECK(KeySlot(key) == ReferenceSlot(key));
  }
  std::string bytes;
  for (int c = 0; c < 256; ++c) {
    if (c != '{') bytes.push_back(static_cast<char>(c));  // no hash tag
  }
  CHECK(KeySlot(bytes) == ReferenceSlot(bytes));
  CHECK(KeySlot(std::string_view("a\0b", 3)) == ReferenceSlot(std::string_view("a\0b", 3)));
}

TEST_CASE("slot: hash tags") {
  CHECK(HashTag("{user1000}.following") == "user1000");
  CHECK(KeySlot("{user1000}.following") == KeySlot("{user1000}.followers"));
  CHECK(KeySlot("{user1000}.following") == KeySlot("user1000"));
  // An empty tag: the whole key is hashed.
  CHECK(HashTag("foo{}{bar}").empty());
  CHECK(KeySlot("foo{}{bar}") == ReferenceSlot("foo{}{bar}"));
  CHECK(KeySlot("foo{}{bar}") != KeySlot("bar"));
  // The tag runs from the first '{' to the first '}' after it.
  CHECK(HashTag("foo{{bar}}zap") == "{bar");
  CHECK(KeySlot("foo{{bar}}zap") == ReferenceSlot("{bar"));
  CHECK(HashTag("foo{bar}{zap}") == "bar");
  CHECK(KeySlot("foo{bar}{zap}") == KeySlot("bar"));
  // No closing brace, or a '}' only before the '{': no tag.
  CHECK(HashTag("foo{bar").empty());
  CHECK(KeySlot("foo{bar") == ReferenceSlot("foo{bar"));
  CHECK(HashTag("}foo{").empty());
}

TEST_CASE("slot: every key builder hash-tags its key, and one owner's keys share a slot") {
  auto check_owner = [](const std::string& tag, const std::vector<std::string>& built) {
    uint16_t slot = KeySlot(tag);
    for (const std::string& k : built) {
      CAPTURE(k);
      CHECK(HashTag(k) == tag);
      CHECK(KeySlot(k) == slot);
    }
  };
  const std::string u = "alice";
  check_owner("u:alice", {keys::User(u),
                          keys::InboxMeta(u),
                          keys::Inbox(u),
                          keys::Session(u, "s1"),
                          keys::PlatformSession(u, "ios"),
                          keys::Cmid(u, "cm-1"),
                          keys::SendRate(u),
                          keys::LoginFailures(u),
                          keys::Acks(u),
                          keys::Online(u),
                          keys::LastSeen(u),
                          keys::Friends(u),
                          keys::FriendRequests(u),
                          keys::FriendRequestsIn(u),
                          keys::KickOutbox(u),
                          keys::Operation(u, "answer:r1"),
                          keys::Blocks(u),
                          keys::FanIn(u),
                          keys::Conversations(u),
                          keys::ConversationLast(u),
                          keys::ConversationRead(u),
                          keys::ConversationUnread(u)});
  const std::string direct = "u:alice:bob";
  check_owner("c:u:alice:bob", {keys::ConversationMeta(direct), keys::ConversationLog(direct),
                                keys::ConversationRecalled(direct)});
  // A group's own keys and the keys of its conversation g:<gid> are one slot.
  check_owner("c:g:g1",
              {keys::Group("g1"), keys::GroupMembers("g1"), keys::GroupJoined("g1"),
               keys::GroupLeft("g1"), keys::GroupFeed("g1"), keys::ConversationMeta("g:g1"),
               keys::ConversationLog("g:g1"), keys::ConversationRecalled("g:g1")});
  check_owner("c:r:r1", {keys::RoomMembers("r1"), keys::ConversationMeta("r:r1"),
                         keys::ConversationLog("r:r1"), keys::ConversationRecalled("r:r1")});
  check_owner("a:2001:db8::/64", {keys::AddressLoginFailures("2001:db8::/64"),
                                  keys::AddressRegistrations("2001:db8::/64")});
  check_owner("m:m1", {keys::MessageIndex("m1")});
  check_owner("dq:3", {keys::DeliveryStream(3)});
  check_owner("fq:3", {keys::FanoutStream(3)});
  // Different owners are different tags (they may still share a slot by chance).
  CHECK(HashTag(keys::Inbox("alice")) != HashTag(keys::Inbox("bob")));
}

TEST_CASE("slot: SlotMap from a three-master CLUSTER SLOTS reply") {
  auto map = SlotMap::FromClusterSlots(ThreeMasters());
  REQUIRE(map.ok());
  CHECK(map->CoversAll());
  REQUIRE(map->ranges().size() == 3);
  CHECK(map->ranges()[0].first == 0);  // sorted
  struct {
    uint16_t slot;
    int port;
  } owners[] = {{0, 30001},     {5460, 30001},  {5461, 30002},  {10922, 30002},
                {10923, 30003}, {16383, 30003}, {12182, 30003}, {5061, 30001}};
  for (auto [slot, port] : owners) {
    CAPTURE(slot);
    const SlotRange* r = map->Owner(slot);
    REQUIRE(r != nullptr);
    CHECK(r->port == port);  // the master, never the replica
    CHECK(r->host == "127.0.0.1");
    CHECK(r->first <= slot);
    CHECK(slot <= r->last);
  }
  CHECK(map->Owner(16384) == nullptr);
  CHECK(map->Owner(65535) == nullptr);
}

TEST_CASE("slot: SlotMap with gaps, single-slot ranges and minimal nodes") {
  // A master given as [host, port] only (Redis < 4 sends no id), an IPv6 host, extra fields.
  RedisValue reply = Arr({
      Entry(0, 0, Arr({Str("::1"), Int(7000)})),
      Entry(2, 100, Arr({Str("redis-a.local"), Int(7001), Str("id"), Arr({})})),
  });
  auto map = SlotMap::FromClusterSlots(reply);
  REQUIRE(map.ok());
  CHECK_FALSE(map->CoversAll());
  REQUIRE(map->Owner(0) != nullptr);
  CHECK(map->Owner(0)->host == "::1");
  CHECK(map->Owner(1) == nullptr);
  CHECK(map->Owner(2)->port == 7001);
  CHECK(map->Owner(100)->host == "redis-a.local");
  CHECK(map->Owner(101) == nullptr);
  CHECK(map->Owner(16383) == nullptr);

  auto empty = SlotMap::FromClusterSlots(Arr({}));
  REQUIRE(empty.ok());
  CHECK_FALSE(empty->CoversAll());
  CHECK(empty->Owner(0) == nullptr);

  // Everything but the last slot.
  auto almost = SlotMap::FromClusterSlots(Arr({Entry(0, 16382, Node("h", 1, "x"))}));
  REQUIRE(almost.ok());
  CHECK_FALSE(almost->CoversAll());
  auto all = SlotMap::FromClusterSlots(Arr({Entry(0, 16383, Node("h", 65535, "x"))}));
  REQUIRE(all.ok());
  CHECK(all->CoversAll());
}

TEST_CASE("slot: SlotMap refuses malformed CLUSTER SLOTS replies") {
  RedisValue nil;
  RedisValue error;
  error.type = RedisValue::Type::kError;
  error.str = "ERR This instance has cluster support disabled";
  RedisValue ok = ThreeMasters();
  RedisValue good_node = Node("127.0.0.1", 30001, "id");
  struct Case {
    const char* name;
    RedisValue reply;
  } cases[] = {
      {"nil", nil},
      {"error reply", error},
      {"string", Str("0 16383")},
      {"entry not an array", Arr({Int(0)})},
      {"entry without master", Arr({Arr({Int(0), Int(16383)})})},
      {"start as string", Arr({Entry(0, 1, good_node), Arr({Str("2"), Int(3), good_node})})},
      {"end as nil", Arr({Arr({Int(0), nil, good_node})})},
      {"negative start", Arr({Entry(-1, 10, good_node)})},
      {"end past 16383", Arr({Entry(0, 16384, good_node)})},
      {"huge slot", Arr({Entry(0, 1LL << 40, good_node)})},
      {"start > end", Arr({Entry(10, 9, good_node)})},
      {"master not an array", Arr({Arr({Int(0), Int(1), Str("127.0.0.1:30001")})})},
      {"master without port", Arr({Entry(0, 1, Arr({Str("127.0.0.1")}))})},
      {"host not a string", Arr({Entry(0, 1, Arr({Int(127), Int(30001)}))})},
      {"empty host", Arr({Entry(0, 1, Node("", 30001, "id"))})},
      {"unknown endpoint", Arr({Entry(0, 1, Node("?", 30001, "id"))})},
      {"port as string", Arr({Entry(0, 1, Arr({Str("h"), Str("30001")}))})},
      {"port 0", Arr({Entry(0, 1, Node("h", 0, "id"))})},
      {"port 65536", Arr({Entry(0, 1, Node("h", 65536, "id"))})},
      {"negative port", Arr({Entry(0, 1, Node("h", -6379, "id"))})},
      {"overlap", Arr({Entry(0, 100, good_node), Entry(100, 200, good_node)})},
      {"duplicate", Arr({Entry(5, 5, good_node), Entry(5, 5, good_node)})},
      {"contained", Arr({Entry(0, 16383, good_node), Entry(10, 20, good_node)})},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    auto map = SlotMap::FromClusterSlots(c.reply);
    CHECK_FALSE(map.ok());
    CHECK(map.status().code() == Status::Code::kInternal);
  }
  // A good reply with one bad entry appended is refused as a whole.
  ok.elements.push_back(Entry(0, 1, Node("", 1, "id")));
  CHECK_FALSE(SlotMap::FromClusterSlots(ok).ok());
}

TEST_CASE("slot: ParseRedirect reads MOVED and ASK") {
  auto moved = ParseRedirect("MOVED 3999 127.0.0.1:6381");
  REQUIRE(moved.has_value());
  CHECK(moved->kind == Redirect::Kind::kMoved);
  CHECK(moved->slot == 3999);
  CHECK(moved->host == "127.0.0.1");
  CHECK(moved->port == 6381);

  auto ask = ParseRedirect("ASK 3999 127.0.0.1:6381");
  REQUIRE(ask.has_value());
  CHECK(ask->kind == Redirect::Kind::kAsk);
  CHECK(ask->slot == 3999);
  CHECK(ask->host == "127.0.0.1");
  CHECK(ask->port == 6381);

  auto v6 = ParseRedirect("MOVED 0 ::1:6381");
  REQUIRE(v6.has_value());
  CHECK(v6->slot == 0);
  CHECK(v6->host == "::1");
  CHECK(v6->port == 6381);
  auto v6long = ParseRedirect("ASK 16383 2001:db8::7:1:30001");
  REQUIRE(v6long.has_value());
  CHECK(v6long->slot == 16383);
  CHECK(v6long->host == "2001:db8::7:1");
  CHECK(v6long->port == 30001);

  auto named = ParseRedirect("MOVED 12182 redis-2.cluster.local:6379");
  REQUIRE(named.has_value());
  CHECK(named->host == "redis-2.cluster.local");

  // No host: the same host as the connection.
  auto same = ParseRedirect("MOVED 3999 :6381");
  REQUIRE(same.has_value());
  CHECK(same->host.empty());
  CHECK(same->port == 6381);
}

TEST_CASE("slot: ParseRedirect refuses everything else") {
  for (const char* bad : {
           "",
           "MOVED",
           "MOVED ",
           "ERR unknown command",
           "NOSCRIPT No matching script",
           "CROSSSLOT Keys in request don't hash to the same slot",
           "TRYAGAIN Multiple keys request during rehashing of slot",
           "CLUSTERDOWN The cluster is down",
           "moved 3999 127.0.0.1:6381",   // case matters
           "MOVED 16384 127.0.0.1:6381",  // slot out of range
           "MOVED 99999999999999999999 h:1",
           "MOVED -1 127.0.0.1:6381",
           "MOVED +1 127.0.0.1:6381",
           "MOVED x 127.0.0.1:6381",
           "MOVED  3999 127.0.0.1:6381",  // empty slot field
           "MOVED 3999",                  // no address
           "MOVED 3999 ",                 // empty address
           "MOVED 3999 127.0.0.1",        // no port
           "MOVED 3999 127.0.0.1:",       // empty port
           "MOVED 3999 127.0.0.1:0",      // port out of range
           "MOVED 3999 127.0.0.1:65536",
           "MOVED 3999 127.0.0.1:-1",
           "MOVED 3999 127.0.0.1:63x",
           "MOVED 3999 127.0.0.1:6381 extra",
           "MOVED 3999 127.0.0.1:6381\r\n",
           "ASK 3999",
           "ASKING 3999 127.0.0.1:6381",
       }) {
    CAPTURE(bad);
    CHECK_FALSE(ParseRedirect(bad).has_value());
  }
}

TEST_SUITE_END();

}  // namespace courier
