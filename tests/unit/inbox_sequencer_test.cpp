// The SDK's ordering state machine against scripted event sequences: duplicates, gaps,
// reorders, a push racing a sync, retention gaps, lost pushes seen through acks, and epoch
// changes.
#include <doctest/doctest.h>

#include "client/inbox_sequencer.h"

namespace courier::client {

namespace {

using nlohmann::json;

json Env(int64_t seq, const std::string& epoch = "e1") {
  return {{"seq", seq}, {"epoch", epoch}, {"type", "message"}, {"id", "m" + std::to_string(seq)}};
}

std::vector<int64_t> Seqs(const InboxSequencer::Step& step) {
  std::vector<int64_t> out;
  for (const auto& e : step.deliver) out.push_back(e["seq"].get<int64_t>());
  return out;
}

std::vector<json> Page(std::initializer_list<int64_t> seqs, const std::string& epoch = "e1") {
  std::vector<json> out;
  for (int64_t s : seqs) out.push_back(Env(s, epoch));
  return out;
}

}  // namespace

TEST_CASE("sequencer: in-order pushes are delivered at once") {
  InboxSequencer s(0, "");
  for (int64_t i = 1; i <= 3; ++i) {
    auto step = s.OnPush(Env(i));
    CHECK(Seqs(step) == std::vector<int64_t>{i});
    CHECK_FALSE(step.sync);
  }
  CHECK(s.last_seq() == 3);
  CHECK(s.epoch() == "e1");
}

TEST_CASE("sequencer: duplicates are dropped") {
  InboxSequencer s(0, "");
  s.OnPush(Env(1));
  s.OnPush(Env(2));
  CHECK(s.OnPush(Env(2)).deliver.empty());
  CHECK(s.OnPush(Env(1)).deliver.empty());
  CHECK_FALSE(s.OnPush(Env(1)).sync);
  CHECK(s.last_seq() == 2);
}

TEST_CASE("sequencer: a gap holds later pushes and asks for a sync; the fill releases them") {
  InboxSequencer s(0, "");
  s.OnPush(Env(1));
  auto gap = s.OnPush(Env(3));
  CHECK(gap.deliver.empty());
  CHECK(gap.sync);
  CHECK(s.held() == 1);
  auto more = s.OnPush(Env(4));
  CHECK(more.deliver.empty());
  auto fill = s.OnPush(Env(2));  // the late push itself
  CHECK(Seqs(fill) == std::vector<int64_t>{2, 3, 4});
  CHECK(s.held() == 0);
  CHECK(s.last_seq() == 4);
}

TEST_CASE("sequencer: a gap filled by sync delivers sync items then the held pushes") {
  InboxSequencer s(1, "e1");
  s.OnPush(Env(4));
  s.OnPush(Env(5));
  auto step = s.OnSyncPage("e1", Page({2, 3, 4}), false);
  CHECK(Seqs(step) == std::vector<int64_t>{2, 3, 4, 5});
  CHECK_FALSE(step.sync);
  CHECK(s.last_seq() == 5);
}

TEST_CASE("sequencer: a push racing a sync is delivered once") {
  InboxSequencer s(0, "e1");
  // The device asked for a sync after 0; meanwhile pushes 1 and 2 arrive first.
  CHECK(Seqs(s.OnPush(Env(1))) == std::vector<int64_t>{1});
  CHECK(Seqs(s.OnPush(Env(2))) == std::vector<int64_t>{2});
  // The sync answer, taken before or after those pushes, repeats them.
  auto step = s.OnSyncPage("e1", Page({1, 2, 3}), false);
  CHECK(Seqs(step) == std::vector<int64_t>{3});
  // And the push of 3 arrives after the sync delivered it.
  CHECK(s.OnPush(Env(3)).deliver.empty());
  CHECK(s.last_seq() == 3);
}

TEST_CASE("sequencer: reordered pushes come out in seq order") {
  InboxSequencer s(0, "");
  std::vector<int64_t> delivered;
  for (int64_t seq : {3, 1, 5, 2, 4, 4, 6, 1}) {
    for (int64_t d : Seqs(s.OnPush(Env(seq)))) delivered.push_back(d);
  }
  CHECK(delivered == std::vector<int64_t>{1, 2, 3, 4, 5, 6});
}

TEST_CASE("sequencer: sync pages until has_more is false") {
  InboxSequencer s(0, "");
  auto p1 = s.OnSyncPage("e1", Page({1, 2}), true);
  CHECK(Seqs(p1) == std::vector<int64_t>{1, 2});
  CHECK(p1.sync);
  auto p2 = s.OnSyncPage("e1", Page({3}), false);
  CHECK(Seqs(p2) == std::vector<int64_t>{3});
  CHECK_FALSE(p2.sync);
  auto empty = s.OnSyncPage("e1", {}, false);
  CHECK(empty.deliver.empty());
  CHECK_FALSE(empty.sync);
}

TEST_CASE("sequencer: entries the server no longer has are skipped, not waited for") {
  InboxSequencer s(2, "e1");
  auto step = s.OnSyncPage("e1", Page({40, 41}), false);
  CHECK(Seqs(step) == std::vector<int64_t>{40, 41});
  CHECK(step.skipped == 37);
  CHECK(s.last_seq() == 41);
}

TEST_CASE("sequencer: an ack answer reveals lost pushes") {
  InboxSequencer s(0, "");
  s.OnPush(Env(1));
  CHECK_FALSE(s.OnAckAnswer(1, "e1").sync);
  CHECK(s.OnAckAnswer(3, "e1").sync);  // 2 and 3 were pushed but never arrived
  auto step = s.OnSyncPage("e1", Page({2, 3}), false);
  CHECK(Seqs(step) == std::vector<int64_t>{2, 3});
}

TEST_CASE("sequencer: a new epoch resets the cursor and resyncs from 0") {
  InboxSequencer s(7, "old");
  s.OnPush(Env(9, "old"));  // held beyond a gap
  auto step = s.OnPush(Env(1, "new"));
  CHECK(step.reset);
  CHECK(step.sync);
  CHECK(step.deliver.empty());
  CHECK(s.last_seq() == 0);
  CHECK(s.epoch() == "new");
  // The resync delivers the new epoch's inbox from 1, the held push exactly once.
  auto sync = s.OnSyncPage("new", Page({1, 2}, "new"), false);
  CHECK(Seqs(sync) == std::vector<int64_t>{1, 2});
  CHECK(s.held() == 0);
  CHECK(s.OnPush(Env(2, "new")).deliver.empty());
}

TEST_CASE("sequencer: an epoch change seen in a sync answer or an ack answer") {
  InboxSequencer s(5, "old");
  auto step = s.OnSyncPage("new", Page({1}, "new"), false);
  CHECK(step.reset);
  CHECK(step.sync);
  CHECK(step.deliver.empty());  // this page was for after=5 under the old epoch: ask again
  CHECK(Seqs(s.OnSyncPage("new", Page({1}, "new"), false)) == std::vector<int64_t>{1});

  InboxSequencer t(5, "old");
  auto ack = t.OnAckAnswer(2, "new");
  CHECK(ack.reset);
  CHECK(t.last_seq() == 0);
}

TEST_CASE("sequencer: a resumed cursor drops what was delivered before the restart") {
  InboxSequencer s(10, "e1");
  CHECK(s.OnSyncPage("e1", Page({9, 10}), false).deliver.empty());
  CHECK(Seqs(s.OnSyncPage("e1", Page({11}), false)) == std::vector<int64_t>{11});
}

TEST_CASE("sequencer: envelopes without a seq are ignored; holding is bounded") {
  InboxSequencer s(0, "", 3);
  CHECK(s.OnPush({{"type", "signal"}, {"kind", "typing"}}).deliver.empty());
  CHECK(s.OnPush({{"seq", "7"}}).deliver.empty());
  CHECK(s.OnPush(json::array()).deliver.empty());
  for (int64_t seq = 10; seq < 20; ++seq) s.OnPush(Env(seq));
  CHECK(s.held() == 3);
  // Whatever was not held comes by sync.
  auto step = s.OnSyncPage("e1", Page({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}), false);
  CHECK(step.deliver.size() == 14);
  CHECK(s.last_seq() == 14);
  CHECK(s.held() == 0);
}

// Found by tests/fuzz (client_codec): json::value("epoch", "") throws when the field is there but
// not a string, and the exception escaped the client's event thread.
TEST_CASE("sequencer: a push whose epoch is not a string is taken as one without an epoch") {
  InboxSequencer s(0, "e1");
  InboxSequencer::Step step;
  CHECK_NOTHROW(step = s.OnPush({{"seq", 1}, {"epoch", 7}}));
  CHECK(Seqs(step) == std::vector<int64_t>{1});
  CHECK_FALSE(step.reset);
  CHECK(s.epoch() == "e1");
  CHECK_NOTHROW(s.OnPush({{"seq", 2}, {"epoch", nullptr}}));
  CHECK(s.last_seq() == 2);
}

}  // namespace courier::client
