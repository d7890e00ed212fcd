// The MessageStore contract (common/message_store.h) as doctest checks, run against every
// implementation: the in-memory fake here in the unit tier, RedisMessageStore against a real
// redis-server in the integration tier. One set of checks keeps the fake honest.
#pragma once

#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/envelope.h"
#include "common/ids.h"
#include "common/message_store.h"

namespace courier::testing {

class StoreContract {
 public:
  explicit StoreContract(MessageStore* store) : store_(store) {}

  Caller User(const std::string& id, const std::string& platform = "cli") {
    NewUser u{id, "hash-" + id, id, 1, "epoch-" + id};
    Status s = store_->CreateUser(u);
    REQUIRE_MESSAGE((s.ok() || s.code() == Status::Code::kConflict), s.ToString());
    return Login(id, "dev-" + platform, platform);
  }

  Caller Login(const std::string& user, const std::string& device, const std::string& platform) {
    std::string sid = "s" + std::to_string(++counter_) + device;
    auto r = store_->OpenSession({user, device, platform, sid, 0, R"({"type":"control"})"});
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    return Caller{user, device, sid, ""};
  }

  Result<SendOutcome> Send(const Caller& from, const std::string& to, const std::string& cmid,
                           const std::string& body = R"({"text":"hi"})", int64_t now = 1000) {
    DirectSend s;
    s.sender = from;
    s.recipient = to;
    s.cmid = cmid;
    s.message = Message{"id-" + from.user_id + "-" + cmid,
                        DirectConversation(from.user_id, to),
                        from.user_id,
                        "user:" + to,
                        cmid,
                        "text",
                        body,
                        now};
    s.parts = EncodeMessageParts(s.message);
    s.recipient_epoch = "epoch-" + to;
    s.sender_epoch = "epoch-" + from.user_id;
    return store_->SendDirect(s, now);
  }

  // OK while the caller's session is live, Unauthorized once it ended (every store call made
  // on behalf of a session checks it; a one-entry sync is the cheapest).
  Status SessionStatus(const Caller& c) { return store_->Sync(c, 0, 1, "fresh").status(); }

  std::vector<nlohmann::json> SyncAll(const Caller& c) {
    auto page = store_->Sync(c, 0, 1000, "fresh");
    REQUIRE_MESSAGE(page.ok(), page.status().ToString());
    std::vector<nlohmann::json> out;
    for (const auto& item : page->items) out.push_back(nlohmann::json::parse(item));
    return out;
  }

  MessageStore* store_;
  int counter_ = 0;
};

// `prefix` makes the user ids unique per run (a Redis may be shared between test cases).
inline void CheckMessageStoreContract(MessageStore* store, const std::string& prefix) {
  StoreContract t(store);
  const std::string a_id = prefix + "a", b_id = prefix + "b", c_id = prefix + "c";

  SUBCASE("registration is unique") {
    t.User(a_id);
    Status again = store->CreateUser({a_id, "other", "x", 2, "e2"});
    CHECK(again.code() == Status::Code::kConflict);
    auto hash = store->PasswordHash(a_id);
    REQUIRE(hash.ok());
    CHECK(*hash == "hash-" + a_id);
    CHECK(store->PasswordHash(prefix + "nobody").status().code() == Status::Code::kNotFound);
  }

  SUBCASE("seq starts at 1 and grows by one; conv_seq per conversation; sender copy") {
    Caller a = t.User(a_id), b = t.User(b_id), c = t.User(c_id);
    for (int i = 0; i < 3; ++i) {
      auto r = t.Send(a, b_id, "m" + std::to_string(i));
      REQUIRE_MESSAGE(r.ok(), r.status().ToString());
      CHECK(r->conv_seq == i + 1);
      CHECK_FALSE(r->duplicate);
    }
    auto r = t.Send(c, b_id, "from-c");
    REQUIRE(r.ok());
    CHECK(r->conv_seq == 1);
    auto inbox = t.SyncAll(b);
    REQUIRE(inbox.size() == 4);
    for (size_t i = 0; i < inbox.size(); ++i) {
      CHECK(inbox[i]["seq"] == i + 1);
      CHECK(inbox[i]["epoch"] == "epoch-" + b_id);
      CHECK(inbox[i]["type"] == "message");
    }
    CHECK(inbox[3]["from"] == c_id);
    CHECK(inbox[3]["conv"] == DirectConversation(b_id, c_id));
    auto own = t.SyncAll(a);
    REQUIRE(own.size() == 3);
    CHECK(own[2]["cmid"] == "m2");
    CHECK(own[2]["seq"] == 3);
    CHECK(own[2]["conv_seq"] == 3);
  }

  SUBCASE("a repeated cmid returns the original and writes nothing") {
    Caller a = t.User(a_id), b = t.User(b_id), c = t.User(c_id);
    auto first = t.Send(a, b_id, "same", R"({"v":1})", 1000);
    auto again = t.Send(a, b_id, "same", R"({"v":2})", 2000);
    REQUIRE(first.ok());
    REQUIRE(again.ok());
    CHECK(again->duplicate);
    CHECK(again->id == first->id);
    CHECK(again->conv_seq == first->conv_seq);
    CHECK(again->ts == first->ts);
    // Another device of the same user: still the same message.
    Caller a2 = t.Login(a_id, "tablet", "ios");
    auto other_device = t.Send(a2, b_id, "same", "[]", 3000);
    REQUIRE(other_device.ok());
    CHECK(other_device->duplicate);
    // Another sender with the same cmid: a new message.
    auto other_sender = t.Send(c, b_id, "same");
    REQUIRE(other_sender.ok());
    CHECK_FALSE(other_sender->duplicate);
    auto inbox = t.SyncAll(b);
    REQUIRE(inbox.size() == 2);
    CHECK(inbox[0]["body"] == nlohmann::json{{"v", 1}});
    CHECK(inbox[1]["seq"] == 2);
  }

  SUBCASE("a message to oneself is one inbox entry") {
    Caller a = t.User(a_id);
    auto r = t.Send(a, a_id, "self");
    REQUIRE(r.ok());
    CHECK(r->conv == "u:" + a_id + ":" + a_id);
    auto inbox = t.SyncAll(a);
    REQUIRE(inbox.size() == 1);
    CHECK(inbox[0]["seq"] == 1);
  }

  SUBCASE("an unknown recipient is NotFound and changes nothing") {
    Caller a = t.User(a_id), b = t.User(b_id);
    auto r = t.Send(a, prefix + "ghost", "x", "1", 5000);
    CHECK(r.status().code() == Status::Code::kNotFound);
    CHECK(t.SyncAll(a).empty());
    auto retry = t.Send(a, prefix + "ghost", "x", "1", 5000);
    CHECK(retry.status().code() == Status::Code::kNotFound);
    // No rate token was kept: the whole burst (StorePolicy default 100) is still there, at the
    // same instant.
    for (int i = 1; i < 100; ++i) {
      auto more = t.Send(a, prefix + "ghost", "g" + std::to_string(i), "1", 5000);
      REQUIRE(more.status().code() == Status::Code::kNotFound);
    }
    int accepted = 0;
    for (int i = 0; i < 100; ++i) {
      if (t.Send(a, b_id, "ok" + std::to_string(i), "1", 5000).ok()) ++accepted;
    }
    CHECK(accepted == 100);
    // Nor the cmid: the same cmid to someone who exists is a new message, a second later.
    auto fresh = t.Send(a, b_id, "x", "1", 6000);
    REQUIRE_MESSAGE(fresh.ok(), fresh.status().ToString());
    CHECK_FALSE(fresh->duplicate);
  }

  SUBCASE("sync pages by seq") {
    Caller a = t.User(a_id), b = t.User(b_id);
    for (int i = 0; i < 5; ++i) REQUIRE(t.Send(a, b_id, "p" + std::to_string(i)).ok());
    auto p1 = store->Sync(b, 0, 2, "fresh");
    REQUIRE(p1.ok());
    CHECK(p1->items.size() == 2);
    CHECK(p1->next_after == 2);
    CHECK(p1->has_more);
    CHECK(p1->latest_seq == 5);
    auto p3 = store->Sync(b, 4, 2, "fresh");
    REQUIRE(p3.ok());
    CHECK(p3->items.size() == 1);
    CHECK(p3->next_after == 5);
    CHECK_FALSE(p3->has_more);
    auto past = store->Sync(b, 99, 2, "fresh");
    REQUIRE(past.ok());
    CHECK(past->items.empty());
    CHECK(past->next_after == 99);
    CHECK(past->epoch == "epoch-" + b_id);
    // The largest cursor the API accepts (2^53) is still a well-formed query.
    auto far = store->Sync(b, int64_t{1} << 53, 2, "fresh");
    REQUIRE_MESSAGE(far.ok(), far.status().ToString());
    CHECK(far->items.empty());
    CHECK(far->next_after == int64_t{1} << 53);
  }

  SUBCASE("ack answers the latest seq and the epoch") {
    Caller a = t.User(a_id), b = t.User(b_id);
    REQUIRE(t.Send(a, b_id, "k1").ok());
    REQUIRE(t.Send(a, b_id, "k2").ok());
    auto ack = store->Ack(b, 1, "fresh");
    REQUIRE(ack.ok());
    CHECK(ack->latest_seq == 2);
    CHECK(ack->epoch == "epoch-" + b_id);
  }

  SUBCASE("the send rate is limited per user, with a burst") {
    Caller a = t.User(a_id), b = t.User(b_id);
    int accepted = 0;
    Status last;
    for (int i = 0; i < 105; ++i) {
      auto r = t.Send(a, b_id, "r" + std::to_string(i), "1", 5000);  // one instant
      if (r.ok()) {
        ++accepted;
      } else {
        last = r.status();
      }
    }
    CHECK(accepted == 100);  // StorePolicy default burst
    CHECK(last.code() == Status::Code::kRateLimited);
    CHECK(last.retry_after_s() >= 1);
    // A second later, 50 more tokens (the default rate).
    auto later = t.Send(a, b_id, "later", "1", 6000);
    CHECK(later.ok());
  }

  SUBCASE("single sign-on: a new login on a platform ends the old session") {
    Caller a1 = t.User(a_id);  // platform cli
    Caller a2 = t.Login(a_id, "laptop", "cli");
    Caller phone = t.Login(a_id, "phone", "ios");
    CHECK(t.SessionStatus(a1).code() == Status::Code::kUnauthorized);
    CHECK(t.SessionStatus(a2).ok());
    CHECK(t.SessionStatus(phone).ok());
    CHECK(t.Send(a1, a_id, "late").status().code() == Status::Code::kUnauthorized);
    CHECK(store->Sync(a1, 0, 10, "e").status().code() == Status::Code::kUnauthorized);
    REQUIRE(store->CloseSession(a2, "{}").ok());
    CHECK(t.SessionStatus(a2).code() == Status::Code::kUnauthorized);
    CHECK(store->CloseSession(a2, "{}").code() == Status::Code::kUnauthorized);
    CHECK(t.SessionStatus(phone).ok());
  }

  SUBCASE("history is newest first and pages with before") {
    Caller a = t.User(a_id), b = t.User(b_id);
    for (int i = 0; i < 5; ++i) REQUIRE(t.Send(a, b_id, "h" + std::to_string(i)).ok());
    std::string conv = DirectConversation(a_id, b_id);
    auto page = store->History(b, conv, 0, 2);
    REQUIRE(page.ok());
    REQUIRE(page->items.size() == 2);
    CHECK(nlohmann::json::parse(page->items[0])["conv_seq"] == 5);
    CHECK(nlohmann::json::parse(page->items[1])["conv_seq"] == 4);
    CHECK(page->has_more);
    auto older = store->History(b, conv, 2, 10);
    REQUIRE(older.ok());
    REQUIRE(older->items.size() == 1);
    CHECK(nlohmann::json::parse(older->items[0])["cmid"] == "h0");
    CHECK_FALSE(older->has_more);
  }
}

}  // namespace courier::testing
