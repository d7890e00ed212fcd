// RoomSeqFilter: room messages are delivered in arrival order, and one whose room_seq is not above
// the last delivered for its room (a QoS 1 repeat after a reconnect) is dropped.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "client/room_filter.h"

namespace courier::client {

namespace {

// The room_seqs of `arrivals` (room, room_seq) that the filter lets through, in order.
std::vector<std::pair<std::string, int64_t>> Admitted(
    RoomSeqFilter& filter, const std::vector<std::pair<std::string, int64_t>>& arrivals) {
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto& [room, seq] : arrivals) {
    if (filter.Admit(room, seq)) out.emplace_back(room, seq);
  }
  return out;
}

}  // namespace

TEST_CASE("room filter: in order, everything passes") {
  RoomSeqFilter f;
  CHECK(f.last("lobby") == 0);
  CHECK(Admitted(f, {{"lobby", 1}, {"lobby", 2}, {"lobby", 3}}) ==
        std::vector<std::pair<std::string, int64_t>>{{"lobby", 1}, {"lobby", 2}, {"lobby", 3}});
  CHECK(f.last("lobby") == 3);
}

TEST_CASE("room filter: a joiner's first message may be any room_seq; gaps pass") {
  RoomSeqFilter f;
  CHECK(f.Admit("lobby", 812));
  CHECK(f.Admit("lobby", 815));  // 813 and 814 went by while disconnected: rooms do not repair
  CHECK(f.last("lobby") == 815);
}

TEST_CASE("room filter: repeats after a reconnect are dropped") {
  RoomSeqFilter f;
  CHECK(Admitted(f, {{"lobby", 5}, {"lobby", 6}, {"lobby", 5}, {"lobby", 6}, {"lobby", 7}}) ==
        std::vector<std::pair<std::string, int64_t>>{{"lobby", 5}, {"lobby", 6}, {"lobby", 7}});
  CHECK_FALSE(f.Admit("lobby", 3));  // late and old: dropped too
  CHECK(f.last("lobby") == 7);
}

TEST_CASE("room filter: rooms are independent") {
  RoomSeqFilter f;
  CHECK(Admitted(f, {{"a", 10}, {"b", 1}, {"a", 10}, {"b", 2}, {"a", 11}, {"b", 1}}) ==
        std::vector<std::pair<std::string, int64_t>>{{"a", 10}, {"b", 1}, {"b", 2}, {"a", 11}});
  CHECK(f.last("a") == 11);
  CHECK(f.last("b") == 2);
  CHECK(f.last("c") == 0);
}

TEST_CASE("room filter: RoomSeqOf takes only a positive integer") {
  using nlohmann::json;
  CHECK(RoomSeqOf(json{{"room_seq", 4}}) == 4);
  CHECK(RoomSeqOf(json{{"room_seq", 9007199254740993LL}}) == 9007199254740993LL);
  for (const json& bad : {json{{"room_seq", 0}}, json{{"room_seq", -2}}, json{{"room_seq", "4"}},
                          json{{"room_seq", 4.5}}, json{{"room_seq", nullptr}}, json{{"seq", 4}},
                          json::array({4}), json(4), json()}) {
    CAPTURE(bad.dump());
    CHECK(RoomSeqOf(bad) == -1);
  }
}

}  // namespace courier::client
