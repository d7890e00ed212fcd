// The chaos run's verdict rules (chaos_check.h) on hand-made deliveries: a clean run counts
// nothing, and each kind of fault counts where it should.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "tests/chaos/chaos_check.h"

namespace courier::chaos {
namespace {

using nlohmann::json;

Delivery Message(const std::string& id, const std::string& conv, int64_t conv_seq) {
  return Delivery{0, "message", id, conv, conv_seq, "", ""};
}

Delivery Event(const std::string& event, const std::string& user, int64_t ts) {
  return Delivery{0, "notification", NotificationKey(event, "g", user, ts), "g:g", 0, event, user};
}

// Appends entries to a user's device, numbering seqs on from the last one.
void Deliver(DeliveriesByUser* all, const std::string& user, std::vector<Delivery> entries) {
  auto& list = (*all)[user];
  for (auto& d : entries) {
    d.seq = list.empty() ? 1 : list.back().seq + 1;
    list.push_back(std::move(d));
  }
}

// Group "g": owner a and b are core, c churns. The feed: created, m1, m2, c removed, m3,
// c added, m4.
struct GroupFixture {
  GroupSpec spec{"g", {"a", "b", "c"}, {"a", "b"}};
  std::vector<MembershipChange> changes = {{"group.member_removed", "c"},
                                           {"group.member_added", "c"}};
  std::vector<GroupMessage> accepted = {{"m1", 1}, {"m2", 2}, {"m3", 3}, {"m4", 4}};
  Delivery created = Event("group.created", "a", 100);
  Delivery removed = Event("group.member_removed", "c", 200);
  Delivery added = Event("group.member_added", "c", 300);
  std::vector<Delivery> feed = {
      created, Message("m1", "g:g", 1), Message("m2", "g:g", 2), removed, Message("m3", "g:g", 3),
      added,   Message("m4", "g:g", 4)};
  std::vector<Delivery> churn_share = {
      created, Message("m1", "g:g", 1), Message("m2", "g:g", 2), removed,
      added,   Message("m4", "g:g", 4)};

  DeliveriesByUser Clean() const {
    DeliveriesByUser all;
    Deliver(&all, "a", feed);
    Deliver(&all, "b", feed);
    Deliver(&all, "c", churn_share);
    return all;
  }
  Tally Check(const DeliveriesByUser& all) const {
    return CheckGroup(spec, &changes, accepted, all);
  }
};

TEST_CASE("a delivery survives its line encoding, and envelopes map to deliveries") {
  Delivery m = DeliveryOf(
      json::parse(R"({"seq":7,"epoch":"e","type":"message","id":"01H","conv":"g:g1","conv_seq":3,)"
                  R"("from":"a","to":"group:g1","cmid":"c","kind":"text","body":{"n":1},"ts":5})"));
  CHECK(m == Delivery{7, "message", "01H", "g:g1", 3, "", ""});
  Delivery n = DeliveryOf(
      json::parse(R"({"seq":8,"epoch":"e","type":"notification","event":"group.member_left",)"
                  R"("data":{"group_id":"g1","user_id":"c"},"ts":9})"));
  CHECK(n == Delivery{8, "notification", "n:group.member_left:g1:c:9", "g:g1", 0,
                      "group.member_left", "c"});
  Delivery created = DeliveryOf(
      json::parse(R"({"seq":1,"type":"notification","event":"group.created",)"
                  R"("data":{"group_id":"g1","name":"x","owner":"a","by":"a"},"ts":2})"));
  CHECK(created.subject == "a");
  for (const Delivery& d : {m, n, created, Message("x", "u:a:b", 1)}) {
    auto back = DecodeDelivery(EncodeDelivery(d));
    REQUIRE(back.has_value());
    CHECK(*back == d);
  }
  CHECK_FALSE(DecodeDelivery("12 message 01H g:g1").has_value());  // cut off
  CHECK_FALSE(DecodeDelivery("").has_value());
}

TEST_CASE("inboxes: seqs must go 1, 2, 3 and no entry may come twice") {
  DeliveriesByUser all;
  Deliver(&all, "a", {Message("x", "u:a:b", 1), Message("y", "u:a:b", 2)});
  CHECK(CheckInboxes(all).clean());

  all["a"].push_back(all["a"].back());  // seq 2 again
  Tally t = CheckInboxes(all);
  CHECK(t.duplicated == 1);
  CHECK(t.out_of_order == 1);

  all["b"] = {Message("z", "u:a:b", 1)};
  all["b"][0].seq = 2;  // seq 1 was never delivered
  CHECK(CheckInboxes(all).out_of_order == 2);
}

TEST_CASE("one-to-one: an expected message never delivered is lost") {
  DeliveriesByUser all;
  Deliver(&all, "b", {Message("x", "u:a:b", 1)});
  CHECK(CheckDirect({{"b", {"x"}}}, all).clean());
  Tally t = CheckDirect({{"a", {"x"}}, {"b", {"x", "y"}}}, all);
  CHECK(t.lost == 2);
  CHECK(t.notes.size() == 2);
}

TEST_CASE("groups: a clean run counts nothing") {
  GroupFixture f;
  CHECK(f.Check(f.Clean()).clean());
  // Without the list of changes, the same.
  CHECK(CheckGroup(f.spec, nullptr, f.accepted, f.Clean()).clean());
}

TEST_CASE("groups: a gap inside a churn member's interval is lost") {
  GroupFixture f;
  auto all = f.Clean();
  auto& c = all["c"];
  c.erase(c.begin() + 2);  // m2
  for (size_t i = 0; i < c.size(); ++i) c[i].seq = static_cast<int64_t>(i) + 1;
  Tally t = f.Check(all);
  CHECK(t.lost == 1);
  CHECK(t.duplicated + t.out_of_order + t.unexpected == 0);
}

TEST_CASE("groups: a missing interval edge is lost, an entry from between intervals unexpected") {
  GroupFixture f;
  auto all = f.Clean();
  all["c"].clear();
  Deliver(&all, "c",
          {f.created, Message("m1", "g:g", 1), Message("m2", "g:g", 2), Message("m3", "g:g", 3),
           f.added, Message("m4", "g:g", 4)});
  Tally t = f.Check(all);
  CHECK(t.lost == 1);        // its own removal
  CHECK(t.unexpected == 1);  // m3, sent while it was out
  CHECK(t.out_of_order == 0);
}

TEST_CASE("groups: a step back in the group's order is out_of_order") {
  GroupFixture f;
  auto all = f.Clean();
  std::swap(all["c"][1].id, all["c"][2].id);  // m2 before m1
  std::swap(all["c"][1].conv_seq, all["c"][2].conv_seq);
  Tally t = f.Check(all);
  CHECK(t.out_of_order == 1);
  CHECK(t.lost + t.unexpected == 0);
}

TEST_CASE("groups: core members need every accepted message") {
  GroupFixture f;
  auto all = f.Clean();
  all["b"].pop_back();  // m4
  CHECK(f.Check(all).lost == 1);
  // Nobody has m4: the reference lacks an accepted conv_seq, and c lacks nothing it can know of.
  all["a"].pop_back();
  all["c"].pop_back();
  Tally t = f.Check(all);
  CHECK(t.lost == 1);
  CHECK(t.notes.front().find("conv_seq 4") != std::string::npos);
}

TEST_CASE("groups: the feed must hold exactly the membership changes made, in order") {
  GroupFixture f;
  auto more = f.changes;
  more.push_back({"group.member_removed", "c"});
  CHECK(CheckGroup(f.spec, &more, f.accepted, f.Clean()).lost == 1);

  auto fewer = f.changes;
  fewer.pop_back();
  CHECK(CheckGroup(f.spec, &fewer, f.accepted, f.Clean()).duplicated == 1);

  std::vector<MembershipChange> swapped = {f.changes[1], f.changes[0]};
  CHECK(CheckGroup(f.spec, &swapped, f.accepted, f.Clean()).out_of_order == 1);
}

TEST_CASE("groups: a user who was never a member delivers nothing of the group") {
  GroupFixture f;
  auto all = f.Clean();
  Deliver(&all, "d", {Message("m4", "g:g", 4)});
  CHECK(f.Check(all).unexpected == 1);
}

TEST_CASE("groups: the reference is the core member with the most entries") {
  GroupFixture f;
  auto all = f.Clean();
  all["a"].erase(all["a"].begin() + 4);  // the owner lost m3; b did not
  for (size_t i = 0; i < all["a"].size(); ++i) all["a"][i].seq = static_cast<int64_t>(i) + 1;
  Tally t = f.Check(all);
  CHECK(t.lost == 1);
  CHECK(t.notes.front().find("a never delivered message m3") != std::string::npos);
}

TEST_CASE("notes are capped, counts are not") {
  Tally t;
  for (int i = 0; i < 100; ++i) {
    ++t.lost;
    t.Note("x");
  }
  CHECK(t.lost == 100);
  CHECK(t.notes.size() == Tally::kMaxNotes);
  CHECK(t.notes_dropped == 100 - static_cast<int64_t>(Tally::kMaxNotes));
}

}  // namespace
}  // namespace courier::chaos
