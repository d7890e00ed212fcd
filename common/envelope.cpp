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

std::string EncodeControl(std::string_view event, std::string_view reason, int64_t ts) {
  return nlohmann::json{{"type", "control"}, {"event", event}, {"reason", reason}, {"ts", ts}}
      .dump();
}

}  // namespace courier
