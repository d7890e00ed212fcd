#include "bench/inbox_tracker.h"

#include <algorithm>

namespace courier::bench {

using nlohmann::json;

namespace {

// The integer at `key`, or -1 when it is missing or not an integer.
int64_t IntAt(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_number_integer()) return -1;
  return it->get<int64_t>();
}

}  // namespace

InboxTracker::InboxTracker(size_t devices, bool track_spreads, size_t timed_devices)
    : track_spreads_(track_spreads), timed_devices_(timed_devices), devices_(devices) {}

void InboxTracker::Pushed(size_t device, std::string_view payload, int64_t arrival_ns) {
  json envelope = json::parse(payload, nullptr, false);
  std::lock_guard<std::mutex> lock(mu_);
  if (envelope.is_discarded() || !envelope.is_object()) {
    ++unexpected_;
    return;
  }
  TakeLocked(device, envelope, arrival_ns, true);
}

void InboxTracker::Synced(size_t device, const json& envelope, int64_t arrival_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!envelope.is_object()) {
    ++unexpected_;
    return;
  }
  TakeLocked(device, envelope, arrival_ns, false);
}

void InboxTracker::TakeLocked(size_t device, const json& envelope, int64_t arrival_ns,
                              bool pushed) {
  if (device >= devices_.size()) {
    ++unexpected_;
    return;
  }
  Device& d = devices_[device];
  int64_t seq = IntAt(envelope, "seq");
  if (seq < 0) return;  // a signal: pushed once, never stored, not checked here
  if (!d.seqs.insert(seq).second) {
    ++redelivered_;
    return;
  }
  if (pushed) {
    int64_t backwards = d.pushes.backwards();
    d.pushes.Push(seq);
    if (d.pushes.backwards() > backwards) ++d.out_of_order_pushes;
  }
  d.highest_seq = std::max(d.highest_seq, seq);
  auto body = envelope.find("body");
  bool bench_message = envelope.value("type", "") == "message" && body != envelope.end() &&
                       body->is_object() && body->contains("p") && body->contains("n");
  if (!bench_message) {
    ++d.notifications;
    return;
  }
  int64_t stream = IntAt(*body, "p");
  int64_t n = IntAt(*body, "n");
  int64_t sent_ns = IntAt(*body, "t");
  StreamCheck& check = d.streams[stream];
  int64_t before = check.arrived();
  check.Arrived(n, seq);
  if (check.arrived() == before) return;  // a duplicate or unexpected: counted by the check
  ++delivered_;
  if (device >= timed_devices_) return;
  ++timed_delivered_;
  if (first_arrival_ns_ == 0 || arrival_ns < first_arrival_ns_) first_arrival_ns_ = arrival_ns;
  last_arrival_ns_ = std::max(last_arrival_ns_, arrival_ns);
  if (pushed && sent_ns > 0) {
    latencies_.Add(arrival_ns - sent_ns);
    samples_.emplace_back(sent_ns, arrival_ns - sent_ns);
  }
  if (!track_spreads_) return;
  Spread& spread = spreads_[{stream, n}];
  ++spread.devices;
  spread.sent_ns = sent_ns;
  spread.last_arrival_ns = std::max(spread.last_arrival_ns, arrival_ns);
}

void InboxTracker::Accepted(size_t device, int64_t stream, int64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  if (device >= devices_.size()) return;
  devices_[device].streams[stream].Accepted(n);
}

InboxTracker::Totals InboxTracker::totals() const {
  std::lock_guard<std::mutex> lock(mu_);
  Totals t;
  t.delivered = delivered_;
  t.redelivered = redelivered_;
  t.unexpected = unexpected_;
  for (const Device& d : devices_) {
    t.notifications += d.notifications;
    t.out_of_order += d.out_of_order_pushes;
    t.push_seq_gaps += d.pushes.gaps();
    for (const auto& [stream, check] : d.streams) {
      t.accepted += check.accepted();
      t.lost += check.lost();
      t.duplicated += check.duplicated();
      t.out_of_order += check.out_of_order();
      t.unexpected += check.unexpected();
    }
  }
  return t;
}

int64_t InboxTracker::delivered() const {
  std::lock_guard<std::mutex> lock(mu_);
  return delivered_;
}

int64_t InboxTracker::timed_delivered() const {
  std::lock_guard<std::mutex> lock(mu_);
  return timed_delivered_;
}

int64_t InboxTracker::notifications(size_t device) const {
  std::lock_guard<std::mutex> lock(mu_);
  return device < devices_.size() ? devices_[device].notifications : 0;
}

int64_t InboxTracker::last_seq(size_t device) const {
  std::lock_guard<std::mutex> lock(mu_);
  return device < devices_.size() ? devices_[device].highest_seq : 0;
}

Latencies InboxTracker::latencies() const {
  std::lock_guard<std::mutex> lock(mu_);
  return latencies_;
}

std::vector<std::pair<int64_t, int64_t>> InboxTracker::slowest(size_t count) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<int64_t, int64_t>> out = samples_;
  count = std::min(count, out.size());
  std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(count), out.end(),
                    [](const auto& a, const auto& b) { return a.second > b.second; });
  out.resize(count);
  return out;
}

std::map<std::pair<int64_t, int64_t>, InboxTracker::Spread> InboxTracker::spreads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return spreads_;
}

int64_t InboxTracker::first_arrival_ns() const {
  std::lock_guard<std::mutex> lock(mu_);
  return first_arrival_ns_;
}

int64_t InboxTracker::last_arrival_ns() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_arrival_ns_;
}

}  // namespace courier::bench
