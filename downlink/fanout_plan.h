// Planning a group's fan-out: which members get which of the group's feed entries. Pure
// functions over a snapshot of the group (docs/design.md, "Groups"); the fan-out worker reads
// the snapshot from Redis and applies the plan with fanin.lua.
//
// A member added by feed entry j gets every entry from j on; a former member whose
// membership ran from j to l (the entry that removed them) gets the entries j..l — so an added
// or removed user sees their own group.member_added / _removed / _left. An entry may name a
// user it skips (a read receipt is not sent back to its reader).
//
// Thread-safety: pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace courier {

struct FeedEntry {
  int64_t fseq = 0;
  std::string rest;      // the envelope after '{"seq":S,"epoch":"E",'
  bool message = false;  // a message (counts in the conversation list) or a notification
  int64_t conv_seq = 0;  // messages only
  std::string from;      // messages only
  std::string skip;      // a user this entry is not for, or empty

  // The flag argument of fanin.lua: "m:<conv_seq>:<from>" or "n".
  std::string FaninFlag() const;
};

struct GroupSnapshot {
  int64_t fanned = 0;                     // done up to here
  std::vector<FeedEntry> entries;         // after `fanned`, ascending fseq
  std::map<std::string, int64_t> joined;  // member -> joined at fseq
  // Former member -> their past memberships [joined, left] the fan-out has not passed yet.
  std::map<std::string, std::vector<std::pair<int64_t, int64_t>>> left;
};

// The entries (indices into snapshot.entries, ascending) each recipient must get.
std::map<std::string, std::vector<size_t>> PlanFanout(const GroupSnapshot& snapshot);

// A feed stream entry (id "<fseq>-0" and its fields) as a FeedEntry; nullopt when malformed.
std::optional<FeedEntry> ParseFeedEntry(
    const std::string& id, const std::vector<std::pair<std::string, std::string>>& fields);
// "<joined>:<left>[,<joined>:<left>...]"; nullopt when malformed.
std::optional<std::vector<std::pair<int64_t, int64_t>>> ParseMemberSpans(const std::string& text);

}  // namespace courier
