#include "common/broker_list.h"

#include <algorithm>
#include <fstream>
#include <utility>

namespace courier {

namespace {

constexpr size_t kMaxFileBytes = 1024 * 1024;

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// The whitespace-separated words of `line`.
std::vector<std::string_view> Words(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && IsBlank(line[i])) ++i;
    size_t start = i;
    while (i < line.size() && !IsBlank(line[i])) ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

Result<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidField("cannot read the brokers file " + path);
  std::string text(kMaxFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return Status::InvalidField("cannot read the brokers file " + path);
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxFileBytes) {
    return Status::InvalidField("the brokers file " + path + " is larger than 1 MiB");
  }
  return text;
}

}  // namespace

Result<BrokerList> BrokerList::Create(std::vector<BrokerEntry> entries) {
  if (entries.empty()) return Status::InvalidField("the broker list is empty");
  std::vector<BrokerAddress> internal;
  std::vector<std::string> advertised;
  for (BrokerEntry& e : entries) {
    // Through the parser, so hand-built addresses meet the same rules and lowercasing.
    Result<BrokerAddress> in = ParseBrokerAddress(e.internal.ToString());
    if (!in.ok()) return in.status();
    Result<BrokerAddress> out = ParseBrokerAddress(e.advertised.ToString());
    if (!out.ok()) return out.status();
    e.internal = std::move(*in);
    e.advertised = std::move(*out);
    internal.push_back(e.internal);
    advertised.push_back(e.advertised.ToString());
  }
  std::sort(advertised.begin(), advertised.end());
  auto dup = std::adjacent_find(advertised.begin(), advertised.end());
  if (dup != advertised.end()) {
    return Status::InvalidField("public broker address " + *dup + " is listed twice");
  }
  Result<BrokerRing> ring = BrokerRing::Create(std::move(internal));
  if (!ring.ok()) return ring.status();
  return BrokerList(std::move(*ring), std::move(entries));
}

const BrokerEntry& BrokerList::For(std::string_view user_id) const {
  const BrokerEntry* e = Find(ring_.BrokerFor(user_id));
  return e != nullptr ? *e : entries_.front();  // never the fallback: the ring holds the same set
}

const BrokerEntry* BrokerList::Find(const BrokerAddress& internal) const {
  for (const BrokerEntry& e : entries_) {
    if (e.internal == internal) return &e;
  }
  return nullptr;
}

std::string BrokerList::ToString() const {
  std::string out;
  for (const BrokerEntry& e : entries_) {
    if (!out.empty()) out += ", ";
    out += e.internal.ToString();
    if (!(e.advertised == e.internal)) out += " (public " + e.advertised.ToString() + ")";
  }
  return out;
}

Result<std::vector<BrokerEntry>> ParseBrokerFile(std::string_view text) {
  std::vector<BrokerEntry> entries;
  int line_no = 0;
  while (!text.empty()) {
    ++line_no;
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    std::vector<std::string_view> words = Words(line);
    if (words.empty()) continue;
    const std::string where = "brokers file line " + std::to_string(line_no) + ": ";
    if (words.size() > 2) {
      return Status::InvalidField(where + "expected '<internal host:port> [<public host:port>]'");
    }
    Result<BrokerAddress> internal = ParseBrokerAddress(words[0]);
    if (!internal.ok()) return Status::InvalidField(where + internal.status().message());
    Result<BrokerAddress> advertised = words.size() == 2 ? ParseBrokerAddress(words[1]) : internal;
    if (!advertised.ok()) return Status::InvalidField(where + advertised.status().message());
    entries.push_back({std::move(*internal), std::move(*advertised)});
  }
  if (entries.empty()) return Status::InvalidField("the brokers file names no broker");
  return entries;
}

Result<BrokerList> LoadBrokerList(const MqttConfig& mqtt) {
  std::vector<BrokerEntry> entries;
  if (!mqtt.brokers_file.empty()) {
    Result<std::string> text = ReadSmallFile(mqtt.brokers_file);
    if (!text.ok()) return text.status();
    Result<std::vector<BrokerEntry>> parsed = ParseBrokerFile(*text);
    if (!parsed.ok()) {
      return Status::InvalidField(mqtt.brokers_file + ": " + parsed.status().message());
    }
    entries = std::move(*parsed);
  } else if (!mqtt.brokers.empty()) {
    Result<std::vector<BrokerAddress>> internal = ParseBrokerList(mqtt.brokers);
    if (!internal.ok()) return Status::InvalidField("mqtt-brokers: " + internal.status().message());
    std::vector<BrokerAddress> advertised = *internal;
    if (!mqtt.public_brokers.empty()) {
      Result<std::vector<BrokerAddress>> pub = ParseBrokerList(mqtt.public_brokers);
      if (!pub.ok()) return Status::InvalidField("mqtt-public-brokers: " + pub.status().message());
      if (pub->size() != internal->size()) {
        return Status::InvalidField("mqtt-public-brokers names " + std::to_string(pub->size()) +
                                    " brokers, mqtt-brokers " + std::to_string(internal->size()) +
                                    ": they must pair up, in the same order");
      }
      advertised = std::move(*pub);
    }
    for (size_t i = 0; i < internal->size(); ++i) {
      entries.push_back({(*internal)[i], advertised[i]});
    }
  } else {
    if (!mqtt.public_brokers.empty()) {
      return Status::InvalidField("mqtt-public-brokers needs mqtt-brokers");
    }
    BrokerEntry one;
    one.internal = {mqtt.host, mqtt.port};
    one.advertised = {mqtt.public_host.empty() ? mqtt.host : mqtt.public_host,
                      mqtt.public_port == 0 ? mqtt.port : mqtt.public_port};
    entries.push_back(std::move(one));
  }
  return BrokerList::Create(std::move(entries));
}

ReloadableBrokerList::ReloadableBrokerList(MqttConfig mqtt, BrokerList initial)
    : mqtt_(std::move(mqtt)), current_(std::make_shared<const BrokerList>(std::move(initial))) {}

std::shared_ptr<const BrokerList> ReloadableBrokerList::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

uint64_t ReloadableBrokerList::version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return version_;
}

Result<bool> ReloadableBrokerList::Reload() {
  Result<BrokerList> fresh = LoadBrokerList(mqtt_);
  if (!fresh.ok()) return fresh.status();
  std::lock_guard<std::mutex> lock(mu_);
  if (*fresh == *current_) return false;
  current_ = std::make_shared<const BrokerList>(std::move(*fresh));
  ++version_;
  return true;
}

}  // namespace courier
