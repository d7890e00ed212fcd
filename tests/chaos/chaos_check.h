// The chaos run's verdict: what every device delivered, compared with what the server accepted
// and with what the membership threads changed. Pure functions over the deliveries, so the
// rules are unit-tested (chaos_check_test.cpp) apart from the run.
//
// The counts:
//   lost          an entry a device should have delivered and never did
//   duplicated    an entry a device delivered twice (or a membership change that is in the
//                 group's feed more often than it was made)
//   out_of_order  a delivery whose seq is not the previous one's plus 1; a group entry delivered
//                 after one that comes later in the group's order
//   unexpected    a group entry delivered to a user who was not a member when it happened
//
// Thread-safety: pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/chaos/delivery_record.h"

namespace courier::chaos {

struct Tally {
  int64_t lost = 0;
  int64_t duplicated = 0;
  int64_t out_of_order = 0;
  int64_t unexpected = 0;
  // One line per finding, for the log: the first kMaxNotes, then only how many more.
  std::vector<std::string> notes;
  int64_t notes_dropped = 0;
  static constexpr size_t kMaxNotes = 40;

  void Note(std::string line);
  void Add(const Tally& other);
  bool clean() const {
    return lost == 0 && duplicated == 0 && out_of_order == 0 && unexpected == 0;
  }
};

// Every device: seqs 1, 2, 3, ... in delivery order (each other step is out_of_order), and no
// id (message id or NotificationKey) twice (each repeat is duplicated).
Tally CheckInboxes(const DeliveriesByUser& all);

// One-to-one messages: every id in expected[user] delivered by that user's device (else lost).
Tally CheckDirect(const std::map<std::string, std::set<std::string>>& expected,
                  const DeliveriesByUser& all);

struct GroupSpec {
  std::string id;
  std::vector<std::string> members;  // the members at creation, the owner first
  std::vector<std::string> core;     // members never removed, the owner first; not empty
};

// A membership change as its thread made it, in the order it made them.
struct MembershipChange {
  std::string event;  // "group.member_removed", "group.member_left", "group.member_added"
  std::string user;
};

// An accepted group message (a 2xx send answer).
struct GroupMessage {
  std::string id;
  int64_t conv_seq = 0;
};

// One group. Its order is read from a reference: the core member whose device delivered the
// most of the group's entries (the owner on a tie). Checks:
//  - the reference has every message, conv_seq 1, 2, 3, ... up to the highest accepted or
//    delivered one (a missing one is lost, a decrease out_of_order);
//  - if `changes` is given, the reference's membership notifications are group.created and then
//    exactly those changes, in that order (missing: lost, extra: duplicated, else out_of_order);
//  - every other member — core or churn — delivered exactly the reference's entries that fall in
//    its membership intervals: from group.created (or its group.member_added) to its
//    group.member_removed / _left inclusive, in the reference's order. A missing one is lost
//    (for a churn member this is a gap in the interval's conv_seqs, or a missing edge), one
//    outside the intervals unexpected, one out of the reference's order out_of_order;
//  - a user who was never a member delivered none of the group's entries (else unexpected).
// Repeated deliveries are CheckInboxes' to count; here only the first of each counts.
Tally CheckGroup(const GroupSpec& group, const std::vector<MembershipChange>* changes,
                 const std::vector<GroupMessage>& accepted, const DeliveriesByUser& all);

}  // namespace courier::chaos
