#include <doctest/doctest.h>

#include "downlink/fanout_plan.h"

namespace courier {

namespace {

FeedEntry Note(int64_t fseq, std::string skip = "") {
  FeedEntry e;
  e.fseq = fseq;
  e.rest = R"("type":"notification","event":"x","data":{},"ts":1})";
  e.skip = std::move(skip);
  return e;
}

FeedEntry Msg(int64_t fseq, int64_t conv_seq, std::string from) {
  FeedEntry e = Note(fseq);
  e.message = true;
  e.conv_seq = conv_seq;
  e.from = std::move(from);
  return e;
}

std::vector<int64_t> Fseqs(const GroupSnapshot& g, const std::vector<size_t>& indices) {
  std::vector<int64_t> out;
  for (size_t i : indices) out.push_back(g.entries[i].fseq);
  return out;
}

}  // namespace

TEST_CASE("every current member gets every entry from the one that added them") {
  GroupSnapshot g;
  g.entries = {Note(1), Msg(2, 1, "alice"), Note(3), Msg(4, 2, "bob")};
  g.joined = {{"alice", 1}, {"bob", 1}, {"carol", 3}};
  auto plan = PlanFanout(g);
  REQUIRE(plan.size() == 3);
  CHECK(Fseqs(g, plan["alice"]) == std::vector<int64_t>{1, 2, 3, 4});
  CHECK(Fseqs(g, plan["bob"]) == std::vector<int64_t>{1, 2, 3, 4});
  // carol was added by entry 3: she sees her own group.member_added, then what follows.
  CHECK(Fseqs(g, plan["carol"]) == std::vector<int64_t>{3, 4});
}

TEST_CASE("a former member gets the entries of their membership, their removal included") {
  GroupSnapshot g;
  g.entries = {Msg(5, 3, "alice"), Note(6), Msg(7, 4, "alice")};
  g.joined = {{"alice", 1}};
  g.left = {{"dave", {{2, 6}}}};  // removed by entry 6
  auto plan = PlanFanout(g);
  CHECK(Fseqs(g, plan["dave"]) == std::vector<int64_t>{5, 6});
  CHECK(Fseqs(g, plan["alice"]) == std::vector<int64_t>{5, 6, 7});
}

TEST_CASE("a member who left and came back gets both stretches and nothing in between") {
  GroupSnapshot g;
  g.entries = {Msg(3, 1, "a"), Note(4), Msg(5, 2, "a"), Note(6), Msg(7, 3, "a")};
  g.joined = {{"a", 1}, {"eve", 6}};  // re-added by entry 6
  g.left = {{"eve", {{2, 4}}}};       // removed by entry 4
  auto plan = PlanFanout(g);
  CHECK(Fseqs(g, plan["eve"]) == std::vector<int64_t>{3, 4, 6, 7});
}

TEST_CASE("two past memberships not yet fanned out are both honoured") {
  GroupSnapshot g;
  g.entries = {Msg(3, 1, "a"), Note(4), Msg(5, 2, "a"), Note(6), Msg(7, 3, "a"), Note(8)};
  g.joined = {{"a", 1}};
  g.left = {{"eve", {{2, 4}, {6, 8}}}};  // left at 4, back at 6, left again at 8
  auto plan = PlanFanout(g);
  CHECK(Fseqs(g, plan["eve"]) == std::vector<int64_t>{3, 4, 6, 7, 8});
}

TEST_CASE("an entry is not sent to the user it skips") {
  GroupSnapshot g;
  g.entries = {Note(9, "bob")};  // bob's own read receipt
  g.joined = {{"alice", 1}, {"bob", 1}};
  auto plan = PlanFanout(g);
  CHECK(plan.count("bob") == 0);
  CHECK(Fseqs(g, plan["alice"]) == std::vector<int64_t>{9});
}

TEST_CASE("feed entries parse from their stream fields") {
  auto m = ParseFeedEntry("12-0",
                          {{"b", R"("type":"message"})"}, {"m", "1"}, {"f", "alice"}, {"c", "7"}});
  REQUIRE(m.has_value());
  CHECK(m->fseq == 12);
  CHECK(m->message);
  CHECK(m->FaninFlag() == "m:7:alice");
  auto n = ParseFeedEntry("13-0", {{"b", "x"}, {"u", "bob"}, {"x", "carol"}});
  REQUIRE(n.has_value());
  CHECK_FALSE(n->message);
  CHECK(n->skip == "carol");
  CHECK(n->FaninFlag() == "n");
  CHECK_FALSE(ParseFeedEntry("x-0", {{"b", "x"}}).has_value());
  CHECK_FALSE(ParseFeedEntry("14-0", {}).has_value());                        // no body
  CHECK_FALSE(ParseFeedEntry("15-0", {{"b", "x"}, {"m", "1"}}).has_value());  // no conv_seq
}

TEST_CASE("membership spans parse as joined:left, comma-separated") {
  using Spans = std::vector<std::pair<int64_t, int64_t>>;
  CHECK(ParseMemberSpans("3:9") == Spans{{3, 9}});
  CHECK(ParseMemberSpans("3:9,12:15") == Spans{{3, 9}, {12, 15}});
  for (const char* bad : {"39", "a:9", "3:", "3:9,", ",3:9", "3:9,,4:5", ""}) {
    CAPTURE(bad);
    CHECK_FALSE(ParseMemberSpans(bad).has_value());
  }
}

}  // namespace courier
