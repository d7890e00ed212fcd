#include "tests/chaos/chaos_check.h"

#include <algorithm>
#include <tuple>

namespace courier::chaos {

namespace {

bool EndsMembership(const Delivery& d) {
  return d.event == "group.member_removed" || d.event == "group.member_left";
}

std::string Describe(const Delivery& d) {
  if (d.is_message()) return "message " + d.id + " (conv_seq " + std::to_string(d.conv_seq) + ")";
  return d.event + " of " + d.subject + " (" + d.id + ")";
}

// The first delivery of each of the group's entries, in delivery order.
std::vector<const Delivery*> GroupEntriesOf(const DeliveriesByUser& all, const std::string& user,
                                            const std::string& conv) {
  std::vector<const Delivery*> out;
  auto it = all.find(user);
  if (it == all.end()) return out;
  std::set<std::string> seen;
  for (const Delivery& d : it->second) {
    if (d.conv == conv && seen.insert(d.id).second) out.push_back(&d);
  }
  return out;
}

// The reference's membership notifications against group.created + `changes`. Each event is
// named by (event, user, occurrence) on both sides.
void CheckMembershipOrder(const std::string& gid, const std::string& owner,
                          const std::vector<MembershipChange>& changes,
                          const std::vector<const Delivery*>& reference, Tally* t) {
  using Label = std::tuple<std::string, std::string, int>;
  std::vector<MembershipChange> made = {{"group.created", owner}};
  made.insert(made.end(), changes.begin(), changes.end());
  std::map<Label, size_t> position;
  std::map<std::pair<std::string, std::string>, int> occurrences;
  for (size_t i = 0; i < made.size(); ++i) {
    int k = occurrences[{made[i].event, made[i].user}]++;
    position[{made[i].event, made[i].user, k}] = i;
  }
  occurrences.clear();
  std::set<Label> found;
  int64_t last = -1;
  for (const Delivery* d : reference) {
    if (d->is_message()) continue;
    Label label{d->event, d->subject, occurrences[{d->event, d->subject}]++};
    auto it = position.find(label);
    if (it == position.end()) {
      ++t->duplicated;
      t->Note("group " + gid + ": the feed has " + Describe(*d) + " more often than it was made");
      continue;
    }
    found.insert(label);
    if (static_cast<int64_t>(it->second) < last) {
      ++t->out_of_order;
      t->Note("group " + gid + ": " + Describe(*d) + " comes after a later change");
    } else {
      last = static_cast<int64_t>(it->second);
    }
  }
  for (const auto& [label, i] : position) {
    if (found.count(label)) continue;
    ++t->lost;
    t->Note("group " + gid + ": change #" + std::to_string(i) + " (" + std::get<0>(label) + " of " +
            std::get<1>(label) + ") never reached the reference member");
  }
}

}  // namespace

void Tally::Note(std::string line) {
  if (notes.size() < kMaxNotes) {
    notes.push_back(std::move(line));
  } else {
    ++notes_dropped;
  }
}

void Tally::Add(const Tally& other) {
  lost += other.lost;
  duplicated += other.duplicated;
  out_of_order += other.out_of_order;
  unexpected += other.unexpected;
  for (const auto& n : other.notes) Note(n);
  notes_dropped += other.notes_dropped;
}

Tally CheckInboxes(const DeliveriesByUser& all) {
  Tally t;
  for (const auto& [user, ds] : all) {
    std::set<std::string> seen;
    int64_t prev = 0;
    for (const Delivery& d : ds) {
      if (!seen.insert(d.id).second) {
        ++t.duplicated;
        t.Note(user + ": " + Describe(d) + " delivered again, as seq " + std::to_string(d.seq));
      }
      if (d.seq != prev + 1) {
        ++t.out_of_order;
        t.Note(user + ": seq " + std::to_string(d.seq) + " delivered after seq " +
               std::to_string(prev));
      }
      prev = d.seq;
    }
  }
  return t;
}

Tally CheckDirect(const std::map<std::string, std::set<std::string>>& expected,
                  const DeliveriesByUser& all) {
  Tally t;
  for (const auto& [user, ids] : expected) {
    std::set<std::string> got;
    if (auto it = all.find(user); it != all.end()) {
      for (const Delivery& d : it->second) got.insert(d.id);
    }
    for (const auto& id : ids) {
      if (got.count(id)) continue;
      ++t.lost;
      t.Note(user + ": never delivered one-to-one message " + id);
    }
  }
  return t;
}

Tally CheckGroup(const GroupSpec& group, const std::vector<MembershipChange>* changes,
                 const std::vector<GroupMessage>& accepted, const DeliveriesByUser& all) {
  Tally t;
  const std::string conv = "g:" + group.id;
  const std::string& gid = group.id;
  std::map<std::string, std::vector<const Delivery*>> got;
  for (const auto& u : group.members) got[u] = GroupEntriesOf(all, u, conv);

  std::string ref = group.core.front();
  for (const auto& u : group.core) {
    if (got[u].size() > got[ref].size()) ref = u;
  }
  const std::vector<const Delivery*>& reference = got[ref];
  std::map<std::string, size_t> position;
  for (size_t i = 0; i < reference.size(); ++i) position.emplace(reference[i]->id, i);

  // Every message, in conv_seq order.
  std::set<int64_t> conv_seqs;
  int64_t highest = 0, prev = 0;
  for (const Delivery* d : reference) {
    if (!d->is_message()) continue;
    conv_seqs.insert(d->conv_seq);
    highest = std::max(highest, d->conv_seq);
    if (d->conv_seq < prev) {
      ++t.out_of_order;
      t.Note("group " + gid + ": " + ref + " delivered " + Describe(*d) + " after conv_seq " +
             std::to_string(prev));
    }
    prev = d->conv_seq;
  }
  for (const auto& m : accepted) highest = std::max(highest, m.conv_seq);
  for (int64_t s = 1; s <= highest; ++s) {
    if (conv_seqs.count(s)) continue;
    ++t.lost;
    t.Note("group " + gid + ": no member's device has conv_seq " + std::to_string(s) +
           " (reference " + ref + ")");
  }
  if (changes) CheckMembershipOrder(gid, group.members.front(), *changes, reference, &t);

  for (const auto& u : group.members) {
    if (u == ref) continue;
    // u's share of the reference: the entries inside its membership intervals.
    std::set<size_t> expected;
    bool member = false;
    for (size_t i = 0; i < reference.size(); ++i) {
      const Delivery& d = *reference[i];
      bool about_u = !d.is_message() && d.subject == u;
      if (d.event == "group.created" || (about_u && d.event == "group.member_added")) {
        member = true;
      }
      if (member) expected.insert(i);
      if (about_u && EndsMembership(d)) member = false;
    }
    std::set<size_t> found;
    int64_t last = -1;
    for (const Delivery* d : got[u]) {
      auto it = position.find(d->id);
      if (it == position.end()) {
        t.Note("group " + gid + ": " + u + " delivered " + Describe(*d) + ", which the reference " +
               ref + " never did");
        continue;
      }
      size_t pos = it->second;
      if (expected.count(pos)) {
        found.insert(pos);
      } else {
        ++t.unexpected;
        t.Note("group " + gid + ": " + u + " delivered " + Describe(*d) +
               " from outside its membership");
      }
      if (static_cast<int64_t>(pos) < last) {
        ++t.out_of_order;
        t.Note("group " + gid + ": " + u + " delivered " + Describe(*d) +
               " after a later entry of the group");
      } else {
        last = static_cast<int64_t>(pos);
      }
    }
    for (size_t pos : expected) {
      if (found.count(pos)) continue;
      ++t.lost;
      t.Note("group " + gid + ": " + u + " never delivered " + Describe(*reference[pos]));
    }
  }

  std::set<std::string> members(group.members.begin(), group.members.end());
  for (const auto& [user, ds] : all) {
    if (members.count(user)) continue;
    for (const Delivery& d : ds) {
      if (d.conv != conv) continue;
      ++t.unexpected;
      t.Note("group " + gid + ": " + user + ", never a member, delivered " + Describe(d));
    }
  }
  return t;
}

}  // namespace courier::chaos
