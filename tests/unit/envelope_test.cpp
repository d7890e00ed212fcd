#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "common/envelope.h"

namespace courier {

TEST_CASE("an inbox envelope is the message with seq, epoch and conv_seq spliced in") {
  Message m{"01ID",
            "u:alice:bob",
            "alice",
            "user:bob",
            "c\"1",
            "text",
            R"({"text":"héllo \"q\" \\ ✓","n":[1,-2.5,null,true]})",
            1764892800123};
  EnvelopeParts parts = EncodeMessageParts(m);
  auto env = nlohmann::json::parse(AssembleInboxEnvelope(parts, 42, "ep0ch", 7));
  CHECK(env == nlohmann::json{{"seq", 42},
                              {"epoch", "ep0ch"},
                              {"type", "message"},
                              {"id", "01ID"},
                              {"conv", "u:alice:bob"},
                              {"conv_seq", 7},
                              {"from", "alice"},
                              {"to", "user:bob"},
                              {"cmid", "c\"1"},
                              {"kind", "text"},
                              {"body", nlohmann::json::parse(m.body_json)},
                              {"ts", 1764892800123}});
  // seq comes first, so a reader can find it without parsing the rest.
  CHECK(AssembleInboxEnvelope(parts, 42, "ep0ch", 7).rfind(R"({"seq":42,"epoch":"ep0ch",)", 0) ==
        0);

  auto entry = nlohmann::json::parse(AssembleConversationEntry(parts, 7));
  CHECK_FALSE(entry.contains("seq"));
  CHECK_FALSE(entry.contains("epoch"));
  CHECK(entry["conv_seq"] == 7);
  CHECK(entry["body"] == env["body"]);
}

TEST_CASE("bodies of every JSON type survive the splice") {
  for (const char* body : {"null", "0", "\"s\"", "[]", "{}", "1e300", "-0.5", "[[[[]]]]"}) {
    Message m{"i", "u:a:b", "a", "user:b", "c", "k", body, 1};
    auto env = nlohmann::json::parse(AssembleInboxEnvelope(EncodeMessageParts(m), 1, "e", 1));
    CHECK(env["body"] == nlohmann::json::parse(body));
  }
}

TEST_CASE("control envelopes") {
  auto c = nlohmann::json::parse(EncodeControl("session.kicked", "logout", 5));
  CHECK(c ==
        nlohmann::json{
            {"type", "control"}, {"event", "session.kicked"}, {"reason", "logout"}, {"ts", 5}});
}

TEST_CASE("a notification's rest completes an envelope once seq and epoch are prefixed") {
  std::string rest =
      EncodeNotificationRest("group.member_added", R"({"group_id":"g1","user_id":"carol"})", 42);
  auto env = nlohmann::json::parse(R"({"seq":3,"epoch":"e",)" + rest);
  CHECK(env == nlohmann::json{{"seq", 3},
                              {"epoch", "e"},
                              {"type", "notification"},
                              {"event", "group.member_added"},
                              {"data", {{"group_id", "g1"}, {"user_id", "carol"}}},
                              {"ts", 42}});
}

TEST_CASE("signals carry no seq") {
  auto typing = nlohmann::json::parse(EncodeSignal("typing", "alice", "u:alice:bob", 7));
  CHECK(typing == nlohmann::json{{"type", "signal"},
                                 {"kind", "typing"},
                                 {"from", "alice"},
                                 {"conv", "u:alice:bob"},
                                 {"ts", 7}});
  auto presence = nlohmann::json::parse(EncodePresenceSignal("alice", false, 8));
  CHECK(presence == nlohmann::json{{"type", "signal"},
                                   {"kind", "presence"},
                                   {"from", "alice"},
                                   {"online", false},
                                   {"ts", 8}});
}

TEST_CASE("a recalled message keeps its fields but not its body") {
  auto r = nlohmann::json::parse(RecalledForm(R"({"id":"m1","conv_seq":3,"body":{"text":"x"}})"));
  CHECK(r == nlohmann::json{{"id", "m1"}, {"conv_seq", 3}, {"body", nullptr}, {"recalled", true}});
  CHECK(RecalledForm("not json") == "not json");
}

}  // namespace courier
