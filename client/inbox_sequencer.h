// InboxSequencer: the SDK's ordering state machine (SPEC §5), pure and single-threaded.
//
// It turns what a device hears — pushes in any order, possibly twice; sync pages; ack answers —
// into one stream of inbox entries delivered exactly once, in seq order. It never does I/O: each
// input returns a Step telling the caller what to deliver and whether to sync.
//
// Rules:
//  - seq <= last_seq: a duplicate, dropped.
//  - seq == last_seq + 1: delivered, then any held entries that now follow on.
//  - seq > last_seq + 1 from a push: held (a gap), and a sync after last_seq is requested.
//  - Sync is the record: entries come in seq order; if the first is beyond last_seq + 1, the
//    entries in between no longer exist on the server (retention), so the sequencer moves on
//    and counts them as skipped rather than waiting forever.
//  - An ack answer whose latest_seq is beyond last_seq means pushes were lost: sync.
//  - Another epoch than the known one: the server lost the inbox's state; everything held is
//    dropped, last_seq restarts at 0 under the new epoch, and a sync from 0 is requested.
//
// Thread-safety: not thread-safe; the client drives it from its one event thread.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace courier::client {

class InboxSequencer {
 public:
  struct Step {
    std::vector<nlohmann::json> deliver;  // in seq order, each exactly once
    bool sync = false;                    // ask the server for entries after last_seq()
    bool reset = false;                   // the epoch changed: the app's view of the inbox restarts
    int64_t skipped = 0;                  // seqs the server no longer has (trimmed by retention)
  };

  // Resumes from a persisted cursor; (0, "") for a device that never synced.
  InboxSequencer(int64_t last_seq, std::string epoch, size_t max_held = 10000);

  // A pushed inbox envelope (it carries "seq" and "epoch"). Envelopes without an integer seq
  // are not the sequencer's business (signals); they are ignored here.
  Step OnPush(const nlohmann::json& envelope);
  // One sync page asked for with after = last_seq() (or less): the answer's epoch, its items
  // in seq order, and whether more follow. Pushes applied while the page was on its way are
  // fine (their seqs are dropped from the page as duplicates). REQUIRES: no reset happened
  // between asking and applying (the client asks and applies on its one event thread).
  Step OnSyncPage(const std::string& epoch, const std::vector<nlohmann::json>& items,
                  bool has_more);
  // The answer to an ack: the inbox's newest seq and its epoch.
  Step OnAckAnswer(int64_t latest_seq, const std::string& epoch);

  int64_t last_seq() const { return last_seq_; }
  const std::string& epoch() const { return epoch_; }
  size_t held() const { return held_.size(); }

 private:
  // Handles the epoch of an input. Returns false and fills `step` for a reset.
  bool AdoptEpoch(const std::string& epoch, Step* step);
  void Accept(const nlohmann::json& envelope, int64_t seq, Step* step);
  void DrainHeld(Step* step);

  int64_t last_seq_;
  std::string epoch_;
  size_t max_held_;
  std::map<int64_t, nlohmann::json> held_;  // pushes beyond a gap, by seq
};

// The seq of an inbox envelope, or -1 if it has none (a signal) or it is malformed.
int64_t SeqOf(const nlohmann::json& envelope);

}  // namespace courier::client
