#include <doctest/doctest.h>

#include "common/ids.h"

namespace courier {

TEST_CASE("ids are 1-64 characters of [A-Za-z0-9_.-]") {
  CHECK(IsValidId("alice"));
  CHECK(IsValidId("A.b-c_9"));
  CHECK(IsValidId(std::string(64, 'x')));
  CHECK_FALSE(IsValidId(""));
  CHECK_FALSE(IsValidId(std::string(65, 'x')));
  for (const char* bad : {"a b", "a/b", "a+b", "a#b", "a:b", "é", "a\nb", "{u}"}) {
    CHECK_FALSE(IsValidId(bad));
  }
  CHECK_FALSE(IsValidId(std::string("a\0b", 3)));
  CHECK(CheckId("user_id", "bob").ok());
  CHECK(CheckId("user_id", "b b").code() == Status::Code::kInvalidField);
}

TEST_CASE("cmids are 1-64 printable ASCII characters without spaces") {
  CHECK(IsValidCmid("cm-1"));
  CHECK(IsValidCmid("!~{}[]\"\\"));
  CHECK_FALSE(IsValidCmid(""));
  CHECK_FALSE(IsValidCmid("a b"));
  CHECK_FALSE(IsValidCmid("tab\t"));
  CHECK_FALSE(IsValidCmid("\x7f"));
  CHECK_FALSE(IsValidCmid("é"));
  CHECK_FALSE(IsValidCmid(std::string(65, 'c')));
}

TEST_CASE("recipients") {
  auto u = ParseRecipient("user:bob");
  REQUIRE(u.ok());
  CHECK(u->kind == Recipient::Kind::kUser);
  CHECK(u->id == "bob");
  CHECK(ParseRecipient("group:g1")->kind == Recipient::Kind::kGroup);
  CHECK(ParseRecipient("room:r.1")->kind == Recipient::Kind::kRoom);
  for (const char* bad :
       {"bob", "user:", "user:a b", "users:bob", "USER:bob", "", "group:", "user:bob:x"}) {
    CHECK(ParseRecipient(bad).status().code() == Status::Code::kInvalidField);
  }
  CHECK(FormatRecipient({Recipient::Kind::kRoom, "r"}) == "room:r");
}

TEST_CASE("one-to-one conversation ids sort their users bytewise") {
  CHECK(DirectConversation("bob", "alice") == "u:alice:bob");
  CHECK(DirectConversation("alice", "bob") == "u:alice:bob");
  CHECK(DirectConversation("amy", "Zed") == "u:Zed:amy");  // 'Z' (0x5A) < 'a' (0x61)
  CHECK(DirectConversation("me", "me") == "u:me:me");
}

TEST_CASE("conversation ids parse back") {
  auto d = ParseConversation("u:alice:bob");
  REQUIRE(d.ok());
  CHECK(d->kind == ConversationRef::Kind::kDirect);
  CHECK(d->a == "alice");
  CHECK(d->b == "bob");
  CHECK(ParseConversation("g:team")->kind == ConversationRef::Kind::kGroup);
  CHECK(ParseConversation("r:lobby")->a == "lobby");
  for (const char* bad :
       {"u:bob:alice", "u:alice", "u::bob", "x:a", "g:", "g:a b", "", "u", "g:a:b"}) {
    CHECK_FALSE(ParseConversation(bad).ok());
  }
}

TEST_CASE("platforms") {
  for (const char* p : {"ios", "android", "web", "desktop", "cli"}) CHECK(IsValidPlatform(p));
  CHECK_FALSE(IsValidPlatform("IOS"));
  CHECK_FALSE(IsValidPlatform(""));
}

}  // namespace courier
