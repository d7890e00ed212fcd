#include "downlink/shard_balance.h"

#include <algorithm>
#include <cstdint>

namespace courier {

int FairShare(int shards, int live) {
  if (shards <= 0) return 0;
  live = std::max(live, 1);
  return (shards + live - 1) / live;
}

BalancePlan PlanBalance(const std::string& me, int live, const std::vector<std::string>& owners,
                        const std::vector<bool>& held) {
  BalancePlan plan;
  const int n = static_cast<int>(owners.size());
  const int fair = FairShare(n, live);
  int mine = static_cast<int>(std::count(held.begin(), held.end(), true));
  if (mine > fair) {
    for (int i = n - 1; i >= 0 && mine > fair; --i) {
      if (!held[i]) continue;
      plan.release.push_back(i);
      --mine;
    }
    return plan;
  }
  int want = fair - mine;
  if (want == 0) return plan;
  // Leases that still name this downlink (it restarted) first: nobody else can take them.
  for (int i = 0; i < n && want > 0; ++i) {
    if (!held[i] && owners[i] == me) {
      plan.take.push_back(i);
      --want;
    }
  }
  // FNV-1a of the name picks where to start looking for free shards.
  uint32_t h = 2166136261u;
  for (unsigned char c : me) {
    h ^= c;
    h *= 16777619u;
  }
  const int start = n == 0 ? 0 : static_cast<int>(h % static_cast<uint32_t>(n));
  for (int k = 0; k < n && want > 0; ++k) {
    int i = (start + k) % n;
    if (!held[i] && owners[i].empty()) {
      plan.take.push_back(i);
      --want;
    }
  }
  return plan;
}

}  // namespace courier
