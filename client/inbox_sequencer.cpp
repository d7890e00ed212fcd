#include "client/inbox_sequencer.h"

namespace courier::client {

int64_t SeqOf(const nlohmann::json& envelope) {
  if (!envelope.is_object()) return -1;
  auto it = envelope.find("seq");
  if (it == envelope.end() || !it->is_number_integer()) return -1;
  int64_t seq = it->get<int64_t>();
  return seq >= 1 ? seq : -1;
}

InboxSequencer::InboxSequencer(int64_t last_seq, std::string epoch, size_t max_held)
    : last_seq_(last_seq), epoch_(std::move(epoch)), max_held_(max_held) {}

bool InboxSequencer::AdoptEpoch(const std::string& epoch, Step* step) {
  if (epoch.empty() || epoch == epoch_) return true;
  bool first = epoch_.empty();
  epoch_ = epoch;
  if (first) return true;  // a device's first contact with its inbox
  last_seq_ = 0;
  held_.clear();
  step->reset = true;
  step->sync = true;
  return false;
}

void InboxSequencer::Accept(const nlohmann::json& envelope, int64_t seq, Step* step) {
  step->deliver.push_back(envelope);
  last_seq_ = seq;
}

void InboxSequencer::DrainHeld(Step* step) {
  while (!held_.empty()) {
    auto first = held_.begin();
    if (first->first <= last_seq_) {
      held_.erase(first);  // delivered meanwhile (by sync)
    } else if (first->first == last_seq_ + 1) {
      Accept(first->second, first->first, step);
      held_.erase(first);
    } else {
      break;
    }
  }
}

InboxSequencer::Step InboxSequencer::OnPush(const nlohmann::json& envelope) {
  Step step;
  int64_t seq = SeqOf(envelope);
  if (seq < 0) return step;
  // Not value("epoch", ...): it throws when the field is there but not a string, and a push is
  // untrusted input. A malformed epoch counts as none.
  auto epoch_field = envelope.find("epoch");
  std::string epoch = epoch_field != envelope.end() && epoch_field->is_string()
                          ? epoch_field->get<std::string>()
                          : std::string();
  if (!AdoptEpoch(epoch, &step)) {
    // A push under the new epoch may well be the first of it; hold it for the resync.
    held_.emplace(seq, envelope);
    return step;
  }
  if (seq <= last_seq_) return step;  // duplicate
  if (seq == last_seq_ + 1) {
    Accept(envelope, seq, &step);
    DrainHeld(&step);
    return step;
  }
  if (held_.size() < max_held_) held_.emplace(seq, envelope);
  step.sync = true;
  return step;
}

InboxSequencer::Step InboxSequencer::OnSyncPage(const std::string& epoch,
                                                const std::vector<nlohmann::json>& items,
                                                bool has_more) {
  Step step;
  if (!AdoptEpoch(epoch, &step)) return step;  // reset: sync again from 0
  for (const auto& item : items) {
    int64_t seq = SeqOf(item);
    if (seq < 0 || seq <= last_seq_) continue;
    if (seq > last_seq_ + 1) step.skipped += seq - last_seq_ - 1;  // gone from the server
    Accept(item, seq, &step);
  }
  DrainHeld(&step);
  step.sync = has_more || !held_.empty();
  return step;
}

InboxSequencer::Step InboxSequencer::OnAckAnswer(int64_t latest_seq, const std::string& epoch) {
  Step step;
  if (!AdoptEpoch(epoch, &step)) return step;
  step.sync = latest_seq > last_seq_;
  return step;
}

}  // namespace courier::client
