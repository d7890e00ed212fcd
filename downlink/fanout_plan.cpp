#include "downlink/fanout_plan.h"

#include <charconv>

namespace courier {

namespace {

std::optional<int64_t> ParseInt(std::string_view s) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

}  // namespace

std::string FeedEntry::FaninFlag() const {
  if (!message) return "n";
  return "m:" + std::to_string(conv_seq) + ":" + from;
}

std::map<std::string, std::vector<size_t>> PlanFanout(const GroupSnapshot& g) {
  std::map<std::string, std::vector<size_t>> plan;
  for (size_t i = 0; i < g.entries.size(); ++i) {
    const FeedEntry& e = g.entries[i];
    auto add = [&](const std::string& user) {
      if (user == e.skip) return;
      auto& list = plan[user];
      if (list.empty() || list.back() != i) list.push_back(i);
    };
    for (const auto& [user, joined] : g.joined) {
      if (joined <= e.fseq) add(user);
    }
    for (const auto& [user, spans] : g.left) {
      for (const auto& [joined, left] : spans) {
        if (joined <= e.fseq && e.fseq <= left) add(user);
      }
    }
  }
  return plan;
}

std::optional<FeedEntry> ParseFeedEntry(
    const std::string& id, const std::vector<std::pair<std::string, std::string>>& fields) {
  FeedEntry e;
  auto fseq = ParseInt(std::string_view(id).substr(0, id.find('-')));
  if (!fseq) return std::nullopt;
  e.fseq = *fseq;
  for (const auto& [k, v] : fields) {
    if (k == "b")
      e.rest = v;
    else if (k == "m")
      e.message = v == "1";
    else if (k == "f")
      e.from = v;
    else if (k == "x")
      e.skip = v;
    else if (k == "c")
      e.conv_seq = ParseInt(v).value_or(0);
  }
  if (e.rest.empty() || (e.message && (e.conv_seq <= 0 || e.from.empty()))) return std::nullopt;
  return e;
}

std::optional<std::vector<std::pair<int64_t, int64_t>>> ParseMemberSpans(const std::string& text) {
  std::vector<std::pair<int64_t, int64_t>> out;
  std::string_view rest = text;
  while (true) {
    std::string_view span = rest.substr(0, rest.find(','));
    size_t colon = span.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    auto a = ParseInt(span.substr(0, colon));
    auto b = ParseInt(span.substr(colon + 1));
    if (!a || !b) return std::nullopt;
    out.emplace_back(*a, *b);
    if (span.size() == rest.size()) break;
    rest.remove_prefix(span.size() + 1);
  }
  return out;
}

}  // namespace courier
