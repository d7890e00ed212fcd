// Which shards one downlink should own, given how many downlinks are alive and who holds each
// shard's lease: the pure part of shard ownership (downlink/shard_coordinator.h does the I/O).
//
// The rule: every live downlink owns at most FairShare(shards, live) = ceil(shards / live)
// shards. A downlink above it gives back its highest-numbered extra shards; one below it takes
// free shards — first those whose lease still names it (its own, from before a restart), then
// unowned ones, starting at a point that depends on its name so that two downlinks racing for
// free shards mostly try different ones. Shards held by another downlink are never taken:
// their lease must expire (the holder died) or be released first. Since live × FairShare ≥
// shards, every shard ends up owned once each downlink has run a round.
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

namespace courier {

// ceil(shards / live); `live` below 1 counts as 1.
int FairShare(int shards, int live);

struct BalancePlan {
  std::vector<int> release;  // held shards to give back (stop their work, then release)
  std::vector<int> take;     // shards to try to take, in order (at most the shortfall)
};

// `owners[i]`: the name in shard i's lease, "" when there is none (free or expired).
// `held[i]`: this downlink runs shard i (it holds the lease). `live`: live downlinks, this one
// included. REQUIRES: owners.size() == held.size().
BalancePlan PlanBalance(const std::string& me, int live, const std::vector<std::string>& owners,
                        const std::vector<bool>& held);

}  // namespace courier
