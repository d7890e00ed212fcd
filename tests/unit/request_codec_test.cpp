#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "uplink/request_codec.h"

namespace courier {

namespace {

Status::Code CodeOf(const Status& s) { return s.code(); }

constexpr size_t kMax = 16 * 1024;

}  // namespace

TEST_CASE("send requests decode, with defaults") {
  auto r = ParseSendRequest(R"({"to":"user:bob","cmid":"c1","body":{"text":"hi"}})", kMax);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  CHECK(r->to.id == "bob");
  CHECK(r->cmid == "c1");
  CHECK(r->kind == "text");
  CHECK(r->body_json == R"({"text":"hi"})");
  auto pretty = ParseSendRequest(
      "{ \"to\" : \"user:bob\", \"cmid\":\"c\", \"kind\":\"image\",\n"
      " \"body\" : [ 1 , 2 ] }",
      kMax);
  REQUIRE(pretty.ok());
  CHECK(pretty->kind == "image");
  CHECK(pretty->body_json == "[1,2]");  // compact
  CHECK(ParseSendRequest(R"({"to":"user:b","cmid":"c","body":null})", kMax)->body_json == "null");
}

TEST_CASE("bad send requests are 400 with the right code, oversize bodies 413") {
  struct Case {
    const char* body;
    Status::Code code;
  };
  using C = Status::Code;
  const Case cases[] = {
      {"", C::kInvalidJson},
      {"not json", C::kInvalidJson},
      {"[1]", C::kInvalidJson},
      {R"("str")", C::kInvalidJson},
      {R"({"to":"user:bob","cmid":"c1","body":1)", C::kInvalidJson},
      {"{\"to\":\"user:bob\",\"cmid\":\"c\",\"body\":\"\xff\"}", C::kInvalidJson},
      {R"({"cmid":"c1","body":1})", C::kInvalidField},
      {R"({"to":5,"cmid":"c1","body":1})", C::kInvalidField},
      {R"({"to":"bob","cmid":"c1","body":1})", C::kInvalidField},
      {R"({"to":"user:a b","cmid":"c1","body":1})", C::kInvalidField},
      {R"({"to":"user:bob","body":1})", C::kInvalidField},
      {R"({"to":"user:bob","cmid":"","body":1})", C::kInvalidField},
      {R"({"to":"user:bob","cmid":"has space","body":1})", C::kInvalidField},
      {R"({"to":"user:bob","cmid":7,"body":1})", C::kInvalidField},
      {R"({"to":"user:bob","cmid":"c","kind":"","body":1})", C::kInvalidField},
      {R"({"to":"user:bob","cmid":"c","kind":3,"body":1})", C::kInvalidField},
      {R"({"to":"user:bob","cmid":"c"})", C::kInvalidField},
  };
  for (const auto& c : cases) {
    CAPTURE(c.body);
    CHECK(CodeOf(ParseSendRequest(c.body, kMax).status()) == c.code);
  }
  std::string big = R"({"to":"user:b","cmid":"c","body":")" + std::string(kMax, 'x') + "\"}";
  CHECK(CodeOf(ParseSendRequest(big, kMax).status()) == C::kTooLarge);
  // Exactly at the limit is fine: "x..." with its quotes is kMax bytes.
  std::string edge = R"({"to":"user:b","cmid":"c","body":")" + std::string(kMax - 2, 'x') + "\"}";
  CHECK(ParseSendRequest(edge, kMax).ok());
}

TEST_CASE("deep nesting is refused before parsing") {
  std::string deep = R"({"to":"user:b","cmid":"c","body":)" + std::string(100000, '[');
  CHECK(CodeOf(ParseSendRequest(deep, kMax).status()) == Status::Code::kInvalidJson);
  CHECK(JsonDepthAtMost("[[[]]]", 3));
  CHECK_FALSE(JsonDepthAtMost("[[[[]]]]", 3));
  CHECK(JsonDepthAtMost(R"(["[[[[[[", "\"[[[["])", 1));  // brackets inside strings don't count
}

TEST_CASE("every prefix of a valid request is refused cleanly") {
  const std::string full = R"({"to":"user:bob","cmid":"c1","kind":"text","body":{"a":[1,"x"]}})";
  for (size_t n = 0; n < full.size(); ++n) {
    CAPTURE(n);
    CHECK_FALSE(ParseSendRequest(full.substr(0, n), kMax).ok());
  }
  CHECK(ParseSendRequest(full, kMax).ok());
}

TEST_CASE("registration and login requests") {
  auto r = ParseRegisterRequest(R"({"user_id":"alice","password":"pw"})");
  REQUIRE(r.ok());
  CHECK(r->display_name == "alice");
  CHECK(ParseRegisterRequest(R"({"user_id":"alice","password":"pw","display_name":"Al ✓"})")
            ->display_name == "Al ✓");
  CHECK_FALSE(ParseRegisterRequest(R"({"user_id":"alice","password":""})").ok());
  CHECK_FALSE(ParseRegisterRequest(R"({"user_id":"alice"})").ok());
  CHECK_FALSE(ParseRegisterRequest(R"({"user_id":"al ice","password":"pw"})").ok());
  CHECK_FALSE(ParseRegisterRequest(R"({"user_id":"alice","password":1})").ok());
  CHECK_FALSE(
      ParseRegisterRequest(R"({"user_id":"a","password":")" + std::string(2000, 'p') + "\"}").ok());

  auto l = ParseLoginRequest(R"({"user_id":"alice","password":"pw","device_id":"d1"})");
  REQUIRE(l.ok());
  CHECK(l->platform == "cli");
  CHECK(ParseLoginRequest(R"({"user_id":"a","password":"p","device_id":"d","platform":"ios"})")
            ->platform == "ios");
  CHECK_FALSE(
      ParseLoginRequest(R"({"user_id":"a","password":"p","device_id":"d","platform":"tv"})").ok());
  CHECK_FALSE(ParseLoginRequest(R"({"user_id":"a","password":"p"})").ok());
  CHECK_FALSE(ParseLoginRequest(R"({"user_id":"a","password":"p","device_id":"d/1"})").ok());
}

TEST_CASE("sync and history queries") {
  auto q = ParseSyncQuery(std::nullopt, std::nullopt, 100, 1000);
  REQUIRE(q.ok());
  CHECK(q->after == 0);
  CHECK(q->limit == 100);
  CHECK(ParseSyncQuery("5", "5000", 100, 1000)->limit == 1000);  // clamped
  CHECK(ParseSyncQuery("5", "1", 100, 1000)->after == 5);
  // "-0": found by tests/fuzz (request_codec); from_chars read it as 0.
  for (const char* bad :
       {"-1", "-0", "abc", "", "1.5", " 1", "+1", "1e3", "99999999999999999999"}) {
    CAPTURE(bad);
    CHECK(ParseSyncQuery(std::string(bad), std::nullopt, 100, 1000).status().code() ==
          Status::Code::kInvalidField);
  }
  CHECK_FALSE(ParseSyncQuery(std::nullopt, std::string("0"), 100, 1000).ok());
  CHECK_FALSE(ParseSyncQuery(std::nullopt, std::string("-5"), 100, 1000).ok());

  CHECK(ParseHistoryQuery(std::nullopt, std::nullopt, 100, 1000)->before == 0);
  CHECK(ParseHistoryQuery(std::string("7"), std::string("2"), 100, 1000)->limit == 2);
  CHECK_FALSE(ParseHistoryQuery(std::string("0"), std::nullopt, 100, 1000).ok());
}

TEST_CASE("acks") {
  CHECK(*ParseAckRequest(R"({"seq":0})") == 0);
  CHECK(*ParseAckRequest(R"({"seq":42})") == 42);
  for (const char* bad : {R"({"seq":-1})", R"({"seq":1.5})", R"({"seq":"1"})", R"({})",
                          R"({"seq":null})", R"({"seq":18446744073709551615})", "[]"}) {
    CAPTURE(bad);
    CHECK_FALSE(ParseAckRequest(bad).ok());
  }
}

TEST_CASE("presence queries") {
  auto u = ParsePresenceQuery(std::string("a,b,a,c"), 100);
  REQUIRE(u.ok());
  CHECK(*u == std::vector<std::string>{"a", "b", "c"});
  CHECK_FALSE(ParsePresenceQuery(std::nullopt, 100).ok());
  CHECK_FALSE(ParsePresenceQuery(std::string(""), 100).ok());
  CHECK_FALSE(ParsePresenceQuery(std::string("a,,b"), 100).ok());
  CHECK_FALSE(ParsePresenceQuery(std::string("a,b c"), 100).ok());
  CHECK_FALSE(ParsePresenceQuery(std::string("a,b,c"), 2).ok());
}

TEST_CASE("bearer tokens") {
  CHECK(*ParseBearer("Bearer abc.def.ghi") == "abc.def.ghi");
  CHECK(*ParseBearer("bearer  tok ") == "tok");
  for (const char* bad : {"", "Bearer", "Bearer ", "Basic dXNlcjpwdw==", "tok"}) {
    CHECK(ParseBearer(bad).status().code() == Status::Code::kUnauthorized);
  }
}

}  // namespace courier

namespace courier {

TEST_CASE("group creation requests: optional id, a name, distinct valid members") {
  auto r = ParseCreateGroupRequest(R"({"name":"G","members":["bob","carol","bob"]})", 10);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  CHECK(r->group_id.empty());
  CHECK(r->name == "G");
  CHECK(r->members == std::vector<std::string>{"bob", "carol"});
  CHECK(ParseCreateGroupRequest(R"({"group_id":"g1","name":"G"})", 10)->group_id == "g1");
  for (const char* bad :
       {R"({"members":[]})", R"({"name":""})", R"({"name":"G","group_id":"a b"})",
        R"({"name":"G","members":"bob"})", R"({"name":"G","members":[1]})",
        R"({"name":"G","members":["a/b"]})", R"({"name":"G","members":["a","b","c"]})"}) {
    CAPTURE(bad);
    auto s = ParseCreateGroupRequest(bad, 2);
    REQUIRE_FALSE(s.ok());
    CHECK(s.status().code() == Status::Code::kInvalidField);
  }
  CHECK(
      ParseCreateGroupRequest(R"({"name":")" + std::string(129, 'x') + "\"}", 10).status().code() ==
      Status::Code::kInvalidField);
  CHECK(ParseCreateGroupRequest("[]", 10).status().code() == Status::Code::kInvalidJson);
}

TEST_CASE("member lists, friend requests, blocks, read marks") {
  CHECK(*ParseUserIdsRequest(R"({"user_ids":["a","b","a"]})", 5) ==
        std::vector<std::string>{"a", "b"});
  CHECK_FALSE(ParseUserIdsRequest(R"({"user_ids":[]})", 5).ok());
  CHECK_FALSE(ParseUserIdsRequest(R"({})", 5).ok());

  auto f = ParseFriendRequest(R"({"to":"bob","note":"hi"})");
  REQUIRE(f.ok());
  CHECK(f->to == "bob");
  CHECK(f->note == "hi");
  CHECK(ParseFriendRequest(R"({"to":"bob"})")->note.empty());
  CHECK_FALSE(ParseFriendRequest(R"({"to":"user:bob"})").ok());  // a plain user id
  CHECK_FALSE(ParseFriendRequest(R"({"to":"bob","note":5})").ok());
  CHECK_FALSE(ParseFriendRequest(R"({"to":"bob","note":")" + std::string(513, 'n') + "\"}").ok());

  CHECK(*ParseBlockRequest(R"({"user_id":"eve"})") == "eve");
  CHECK_FALSE(ParseBlockRequest(R"({"user_id":""})").ok());

  CHECK(*ParseReadRequest(R"({"conv_seq":7})") == 7);
  CHECK(*ParseReadRequest(R"({"conv_seq":0})") == 0);
  for (const char* bad : {R"({"conv_seq":-1})", R"({"conv_seq":1.5})", R"({"conv_seq":"7"})",
                          R"({})", R"({"conv_seq":18446744073709551615})"}) {
    CAPTURE(bad);
    CHECK(ParseReadRequest(bad).status().code() == Status::Code::kInvalidField);
  }
}

TEST_CASE("signal requests go to a user or a group with a client kind") {
  auto s = ParseSignalRequest(R"({"to":"group:g1","kind":"typing"})");
  REQUIRE(s.ok());
  CHECK(s->to.kind == Recipient::Kind::kGroup);
  CHECK(s->kind == "typing");
  for (const char* bad :
       {R"({"to":"room:r1","kind":"typing"})", R"({"to":"user:b","kind":"presence"})",
        R"({"to":"user:b","kind":"Typing"})", R"({"to":"user:b"})", R"({"to":"user:b","kind":""})",
        R"({"to":"bob","kind":"typing"})"}) {
    CAPTURE(bad);
    CHECK(ParseSignalRequest(bad).status().code() == Status::Code::kInvalidField);
  }
}

TEST_CASE("list limits default and clamp") {
  CHECK(*ParseLimitQuery(std::nullopt, 100, 1000) == 100);
  CHECK(*ParseLimitQuery("5000", 100, 1000) == 1000);
  CHECK_FALSE(ParseLimitQuery("0", 100, 1000).ok());
  CHECK_FALSE(ParseLimitQuery("x", 100, 1000).ok());
}

}  // namespace courier

namespace courier {

TEST_CASE("role requests carry a role string") {
  CHECK(*ParseRoleRequest(R"({"role":"admin"})") == "admin");
  CHECK(ParseRoleRequest(R"({})").status().code() == Status::Code::kInvalidField);
  CHECK(ParseRoleRequest(R"({"role":1})").status().code() == Status::Code::kInvalidField);
  CHECK(ParseRoleRequest("[").status().code() == Status::Code::kInvalidJson);
}

}  // namespace courier

namespace courier {

TEST_CASE("a body with a NUL byte is not JSON, even when a valid object precedes it") {
  std::string body = std::string(R"({"user_id":"alice","password":"pw"})") + '\0' + "{junk";
  auto r = ParseRegisterRequest(body);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Status::Code::kInvalidJson);
}

}  // namespace courier
