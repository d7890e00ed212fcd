#include "common/envelope.h"

#include <nlohmann/json.hpp>

namespace courier {

namespace {

std::string Quote(std::string_view s) { return nlohmann::json(s).dump(); }

}  // namespace

EnvelopeParts EncodeMessageParts(const Message& m) {
  EnvelopeParts p;
  p.head = R"("type":"message","id":)" + Quote(m.id) + R"(,"conv":)" + Quote(m.conv);
  p.tail = R"("from":)" + Quote(m.from) + R"(,"to":)" + Quote(m.to) + R"(,"cmid":)" +
           Quote(m.cmid) + R"(,"kind":)" + Quote(m.kind) + R"(,"body":)" + m.body_json +
           R"(,"ts":)" + std::to_string(m.ts) + "}";
  return p;
}

std::string AssembleInboxEnvelope(const EnvelopeParts& parts, int64_t seq, std::string_view epoch,
                                  int64_t conv_seq) {
  std::string out = R"({"seq":)" + std::to_string(seq) + R"(,"epoch":")";
  out.append(epoch).append("\",").append(parts.head);
  out.append(R"(,"conv_seq":)").append(std::to_string(conv_seq)).append(",").append(parts.tail);
  return out;
}

std::string AssembleConversationEntry(const EnvelopeParts& parts, int64_t conv_seq) {
  return "{" + parts.head + R"(,"conv_seq":)" + std::to_string(conv_seq) + "," + parts.tail;
}

std::string EncodeNotificationRest(std::string_view event, std::string_view data_json, int64_t ts) {
  std::string out = R"("type":"notification","event":)" + Quote(event) + R"(,"data":)";
  out.append(data_json).append(R"(,"ts":)").append(std::to_string(ts)).append("}");
  return out;
}

std::string EncodeSignal(std::string_view kind, std::string_view from, std::string_view conv,
                         int64_t ts) {
  return nlohmann::json{
      {"type", "signal"}, {"kind", kind}, {"from", from}, {"conv", conv}, {"ts", ts}}
      .dump();
}

std::string EncodePresenceSignal(std::string_view user, bool online, int64_t ts) {
  return nlohmann::json{
      {"type", "signal"}, {"kind", "presence"}, {"from", user}, {"online", online}, {"ts", ts}}
      .dump();
}

std::string RecalledForm(std::string_view message_json) {
  auto j = nlohmann::json::parse(message_json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::string(message_json);
  j["body"] = nullptr;
  j["recalled"] = true;
  return j.dump();
}

std::string EncodeControl(std::string_view event, std::string_view reason, int64_t ts) {
  return nlohmann::json{{"type", "control"}, {"event", event}, {"reason", reason}, {"ts", ts}}
      .dump();
}

}  // namespace courier
