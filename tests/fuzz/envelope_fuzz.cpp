// Fuzz target: the envelope codec (common/envelope.h) and the identifier forms (common/ids.h).
// Envelopes carry what senders wrote (the body, any JSON) to every recipient and back out of
// Redis; ids and recipient/conversation addresses arrive in every request.
//
// Input: one selector byte, then
//   m   a message as lines: id, conv, from, to, cmid, kind, epoch, seq, conv_seq, ts, then the
//       body as JSON text (the rest). Strings are folded to 7 bits (the uplink only puts ids,
//       cmids and recipient addresses there: all ASCII), the epoch to hex digits (it is the
//       server's), and a body that is not JSON is replaced by null (REQUIRES: valid JSON).
//   n   notification, signal and control envelopes: event/kind, from, conv and ts as lines,
//       then the data object as JSON text (the rest; {} when it is not a JSON object)
//   r   RecalledForm on the rest, as history applies it to stored messages
//   i   the id forms on the rest: IsValidId, IsValidCmid, CheckId, ParseRecipient,
//       ParseConversation, and DirectConversation of its two halves around the first '|'
// Any other selector byte picks one of these by its value.
//
// Asserts: an inbox envelope and a conversation entry are one JSON object whose fields are
// exactly the message's (every string and the body round-trip, no field twice); the recalled
// form keeps every field but the body; the other envelopes parse back to their inputs;
// RecalledForm leaves non-objects alone; an id accepted by IsValidId is 1-64 characters of
// [A-Za-z0-9_.-]; a parsed recipient or conversation formats back to the same text.
#include <charconv>
#include <nlohmann/json.hpp>

#include "common/envelope.h"
#include "common/ids.h"
#include "tests/fuzz/fuzz_support.h"

namespace courier::fuzz {
namespace {

using nlohmann::json;

std::string Ascii(std::string_view bytes) {
  std::string out(bytes);
  for (char& c : out) c = static_cast<char>(c & 0x7F);
  return out;
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(bytes);
  for (char& c : out) c = kDigits[static_cast<unsigned char>(c) & 0x0F];
  return out;
}

int64_t Number(std::string_view text) {
  int64_t v = 0;
  std::from_chars(text.data(), text.data() + text.size(), v);
  return v;
}

json ParseOrDiscard(std::string_view text) {
  return json::parse(text, nullptr, /*allow_exceptions=*/false);
}

// The fields a message envelope must hold, whatever else is around them.
void CheckMessageFields(const json& j, const Message& m, const json& body) {
  FUZZ_CHECK(j.is_object());
  FUZZ_CHECK(j.value("type", "") == "message");
  FUZZ_CHECK(j.value("id", "") == m.id && j.value("conv", "") == m.conv);
  FUZZ_CHECK(j.value("from", "") == m.from && j.value("to", "") == m.to);
  FUZZ_CHECK(j.value("cmid", "") == m.cmid && j.value("kind", "") == m.kind);
  FUZZ_CHECK(j.contains("ts") && j["ts"] == m.ts);
  FUZZ_CHECK(j.contains("body") && j["body"] == body);
}

void FuzzMessage(FuzzInput& in) {
  Message m;
  m.id = Ascii(in.TakeLine());
  m.conv = Ascii(in.TakeLine());
  m.from = Ascii(in.TakeLine());
  m.to = Ascii(in.TakeLine());
  m.cmid = Ascii(in.TakeLine());
  m.kind = Ascii(in.TakeLine());
  std::string epoch = Hex(in.TakeLine());
  int64_t seq = Number(in.TakeLine());
  int64_t conv_seq = Number(in.TakeLine());
  m.ts = Number(in.TakeLine());
  json body = ParseOrDiscard(in.TakeRest());
  if (body.is_discarded()) body = nullptr;
  m.body_json = body.dump();

  EnvelopeParts parts = EncodeMessageParts(m);
  std::string inbox_text = AssembleInboxEnvelope(parts, seq, epoch, conv_seq);
  json inbox = ParseOrDiscard(inbox_text);
  CheckMessageFields(inbox, m, body);
  FUZZ_CHECK(inbox.size() == 12);  // a duplicated key would have collapsed into one
  FUZZ_CHECK(inbox["seq"] == seq && inbox.value("epoch", "") == epoch);
  FUZZ_CHECK(inbox["conv_seq"] == conv_seq);

  std::string entry_text = AssembleConversationEntry(parts, conv_seq);
  json entry = ParseOrDiscard(entry_text);
  CheckMessageFields(entry, m, body);
  FUZZ_CHECK(entry.size() == 10 && entry["conv_seq"] == conv_seq);

  json recalled = ParseOrDiscard(RecalledForm(entry_text));
  FUZZ_CHECK(recalled.is_object() && recalled.value("recalled", false));
  FUZZ_CHECK(recalled.contains("body") && recalled["body"].is_null());
  recalled.erase("recalled");
  recalled["body"] = body;
  FUZZ_CHECK(recalled == entry);
}

void FuzzOtherEnvelopes(FuzzInput& in) {
  std::string event = Ascii(in.TakeLine());
  std::string from = Ascii(in.TakeLine());
  std::string conv = Ascii(in.TakeLine());
  int64_t ts = Number(in.TakeLine());
  json data = ParseOrDiscard(in.TakeRest());
  if (!data.is_object()) data = json::object();

  json n = ParseOrDiscard("{" + EncodeNotificationRest(event, data.dump(), ts));
  FUZZ_CHECK(n.is_object() && n.size() == 4);
  FUZZ_CHECK(n.value("type", "") == "notification" && n.value("event", "") == event);
  FUZZ_CHECK(n["data"] == data && n["ts"] == ts);

  json s = ParseOrDiscard(EncodeSignal(event, from, conv, ts));
  FUZZ_CHECK(
      s == json({{"type", "signal"}, {"kind", event}, {"from", from}, {"conv", conv}, {"ts", ts}}));
  json p = ParseOrDiscard(EncodePresenceSignal(from, ts % 2 == 0, ts));
  FUZZ_CHECK(p == json({{"type", "signal"},
                        {"kind", "presence"},
                        {"from", from},
                        {"online", ts % 2 == 0},
                        {"ts", ts}}));
  json c = ParseOrDiscard(EncodeControl(event, conv, ts));
  FUZZ_CHECK(c == json({{"type", "control"}, {"event", event}, {"reason", conv}, {"ts", ts}}));
}

void FuzzRecalled(std::string_view text) {
  std::string out = RecalledForm(text);
  json before = ParseOrDiscard(text);
  if (!before.is_object()) {
    FUZZ_CHECK(out == text);
    return;
  }
  json after = ParseOrDiscard(out);
  FUZZ_CHECK(after.is_object() && after.value("recalled", false) && after["body"].is_null());
  before.erase("body");
  before.erase("recalled");
  after.erase("body");
  after.erase("recalled");
  FUZZ_CHECK(after == before);
}

bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

void FuzzIds(std::string_view text) {
  bool valid = IsValidId(text);
  FUZZ_CHECK(valid == (!text.empty() && text.size() <= 64 &&
                       std::all_of(text.begin(), text.end(), IsIdChar)));
  FUZZ_CHECK(CheckId("id", text).ok() == valid);
  if (IsValidCmid(text)) {
    FUZZ_CHECK(!text.empty() && text.size() <= 64);
    for (char c : text) FUZZ_CHECK(c > ' ' && c < 0x7F);
  }

  if (auto r = ParseRecipient(text); r.ok()) {
    FUZZ_CHECK(IsValidId(r->id) && FormatRecipient(*r) == text);
  } else {
    FUZZ_CHECK(r.status().code() == Status::Code::kInvalidField);
  }

  if (auto c = ParseConversation(text); c.ok()) {
    FUZZ_CHECK(IsValidId(c->a));
    switch (c->kind) {
      case ConversationRef::Kind::kDirect:
        FUZZ_CHECK(IsValidId(c->b) && c->a <= c->b && DirectConversation(c->b, c->a) == text);
        break;
      case ConversationRef::Kind::kGroup:
        FUZZ_CHECK("g:" + c->a == text);
        break;
      case ConversationRef::Kind::kRoom:
        FUZZ_CHECK("r:" + c->a == text);
        break;
    }
  } else {
    FUZZ_CHECK(c.status().code() == Status::Code::kInvalidField);
  }

  // Two users' conversation id names them both, sorted, whichever of them asks.
  size_t bar = text.find('|');
  if (bar != std::string_view::npos) {
    std::string_view x = text.substr(0, bar), y = text.substr(bar + 1);
    std::string conv = DirectConversation(x, y);
    FUZZ_CHECK(conv == DirectConversation(y, x));
    if (IsValidId(x) && IsValidId(y)) {
      auto ref = ParseConversation(conv);
      FUZZ_CHECK(ref.ok() && ref->kind == ConversationRef::Kind::kDirect);
      FUZZ_CHECK(ref->a == std::min(x, y) && ref->b == std::max(x, y));
    }
  }
}

}  // namespace
}  // namespace courier::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace courier::fuzz;
  static constexpr std::string_view kSelectors = "mnri";
  FuzzInput in(data, size);
  uint8_t byte = in.TakeByte();
  char selector = kSelectors.find(static_cast<char>(byte)) != std::string_view::npos
                      ? static_cast<char>(byte)
                      : kSelectors[byte % kSelectors.size()];
  NoThrow([&] {
    switch (selector) {
      case 'm':
        FuzzMessage(in);
        break;
      case 'n':
        FuzzOtherEnvelopes(in);
        break;
      case 'r':
        FuzzRecalled(in.TakeRest());
        break;
      default:
        FuzzIds(in.TakeRest());
        break;
    }
  });
  return 0;
}
