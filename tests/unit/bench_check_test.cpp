// courier-bench's verdicts (bench/delivery_check.h, bench/inbox_tracker.h): what counts as
// lost, duplicated, out of order or merely redelivered, and the percentiles it prints.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "bench/delivery_check.h"
#include "bench/inbox_tracker.h"

namespace courier::bench {

namespace {

std::string Message(int64_t seq, int64_t stream, int64_t n, int64_t sent_ns = 0) {
  return nlohmann::json{
      {"seq", seq}, {"type", "message"}, {"body", {{"p", stream}, {"n", n}, {"t", sent_ns}}}}
      .dump();
}

}  // namespace

TEST_CASE("StreamCheck: every accepted message arrived once, in seq order") {
  StreamCheck s;
  for (int64_t n = 0; n < 5; ++n) {
    s.Accepted(n);
    s.Arrived(n, 10 + n);
  }
  CHECK(s.accepted() == 5);
  CHECK(s.arrived() == 5);
  CHECK(s.lost() == 0);
  CHECK(s.duplicated() == 0);
  CHECK(s.out_of_order() == 0);
}

TEST_CASE("StreamCheck: arrival order does not matter, seq order does") {
  StreamCheck s;
  s.Arrived(2, 12);  // a push of the newest before a sync of the older ones
  s.Arrived(0, 10);
  s.Arrived(1, 11);
  CHECK(s.out_of_order() == 0);

  StreamCheck swapped;
  swapped.Arrived(0, 10);
  swapped.Arrived(1, 12);
  swapped.Arrived(2, 11);  // sent after 1, stored before it
  CHECK(swapped.out_of_order() == 1);
}

TEST_CASE("StreamCheck: lost, duplicated, unexpected") {
  StreamCheck s;
  s.Accepted(0);
  s.Accepted(1);
  s.Accepted(2);
  s.Arrived(0, 1);
  s.Arrived(2, 3);
  s.Arrived(2, 4);  // the same message under a second seq
  s.Arrived(-1, 5);
  CHECK(s.lost() == 1);
  CHECK(s.duplicated() == 1);
  CHECK(s.unexpected() == 1);
  // A message that arrived without its 2xx (the sender gave up on an answer) is not lost.
  s.Arrived(7, 9);
  CHECK(s.lost() == 1);
}

TEST_CASE("SeqCheck: gaps and pushes going backwards") {
  SeqCheck c;
  c.Push(5);  // the first push sets the start
  c.Push(6);
  c.Push(8);
  c.Push(7);
  CHECK(c.gaps() == 1);
  CHECK(c.backwards() == 1);
  CHECK(c.last() == 8);
}

TEST_CASE("Latencies: nearest-rank percentiles in milliseconds") {
  Latencies l;
  CHECK(l.PercentileMs(50) == 0);
  for (int i = 1; i <= 100; ++i) l.Add(int64_t{i} * 1000000);  // 1..100 ms
  CHECK(l.PercentileMs(50) == doctest::Approx(50));
  CHECK(l.PercentileMs(99) == doctest::Approx(99));
  CHECK(l.MaxMs() == doctest::Approx(100));
  l.Add(1000 * int64_t{1000000});  // added after sorting: sorted again
  CHECK(l.MaxMs() == doctest::Approx(1000));
}

TEST_CASE("InboxTracker: a push delivered again is redelivered, not duplicated") {
  InboxTracker t(1);
  t.Accepted(0, 0, 0);
  t.Accepted(0, 0, 1);
  t.Pushed(0, Message(1, 0, 0, 100), 1100);
  t.Pushed(0, Message(1, 0, 0, 100), 1200);  // QoS 1 at least once
  t.Synced(0, nlohmann::json::parse(Message(2, 0, 1)), 1300);
  t.Synced(0, nlohmann::json::parse(Message(1, 0, 0)), 1300);  // sync repeats a push
  InboxTracker::Totals totals = t.totals();
  CHECK(totals.accepted == 2);
  CHECK(totals.delivered == 2);
  CHECK(totals.redelivered == 2);
  CHECK(totals.duplicated == 0);
  CHECK(totals.lost == 0);
  CHECK(totals.out_of_order == 0);
  CHECK(t.last_seq(0) == 2);
  CHECK(t.latencies().size() == 1);  // pushes only
  CHECK(t.latencies().MaxMs() == doctest::Approx(0.001));
}

TEST_CASE("InboxTracker: one message under two seqs, pushes backwards, junk") {
  InboxTracker t(2);
  t.Accepted(0, 0, 0);
  t.Pushed(0, Message(1, 0, 0), 1);
  t.Pushed(0, Message(3, 0, 0), 2);  // stored twice
  t.Pushed(1, Message(5, 0, 0), 3);
  t.Pushed(1, Message(4, 0, 1), 4);  // a lower seq pushed after a higher one
  t.Pushed(1, "not json", 5);
  t.Pushed(7, Message(1, 0, 0), 6);                        // no such device
  t.Pushed(0, R"({"type":"signal","kind":"typing"})", 7);  // no seq: not checked
  t.Pushed(0, R"({"seq":4,"type":"notification","event":"group.created"})", 8);
  InboxTracker::Totals totals = t.totals();
  CHECK(totals.duplicated == 1);
  CHECK(totals.out_of_order == 2);  // the push going backwards, and its seq below n=0's
  CHECK(totals.unexpected == 2);
  CHECK(totals.notifications == 1);
  CHECK(t.notifications(0) == 1);
  CHECK(t.notifications(1) == 0);
}

TEST_CASE("InboxTracker: how a group message spread") {
  InboxTracker t(3, /*track_spreads=*/true);
  for (size_t d = 0; d < 3; ++d) t.Pushed(d, Message(1, 0, 0, 1000), 2000 + 100 * d);
  auto spreads = t.spreads();
  REQUIRE(spreads.size() == 1);
  CHECK(spreads.begin()->second.devices == 3);
  CHECK(spreads.begin()->second.last_arrival_ns - spreads.begin()->second.sent_ns == 1200);
  CHECK(t.first_arrival_ns() == 2000);
  CHECK(t.last_arrival_ns() == 2200);
}

TEST_CASE("InboxTracker: a sender's echo is checked but not timed") {
  InboxTracker t(2, /*track_spreads=*/false, /*timed_devices=*/1);
  t.Accepted(0, 0, 0);
  t.Accepted(1, 0, 0);
  t.Pushed(0, Message(1, 0, 0, 1000), 3000);  // the recipient's copy
  t.Pushed(1, Message(7, 0, 0, 1000), 9000);  // the sender's echo, later
  CHECK(t.delivered() == 2);
  CHECK(t.timed_delivered() == 1);
  CHECK(t.latencies().size() == 1);
  CHECK(t.last_arrival_ns() == 3000);
  CHECK(t.totals().lost == 0);
  InboxTracker missing_echo(2, false, 1);
  missing_echo.Accepted(1, 0, 0);
  CHECK(missing_echo.totals().lost == 1);
}

}  // namespace courier::bench
