// The envelopes of SPEC §4 as JSON text.
//
// An inbox envelope's seq, epoch and conv_seq are assigned inside Redis, atomically with the
// write (common/lua/send.lua). So a message is encoded here as two pre-serialized parts, and
// the store splices the assigned numbers between them:
//
//   {"seq":S,"epoch":"E",<head>,"conv_seq":C,<tail>     inbox entry and push
//   {<head>,"conv_seq":C,<tail>                          conversation history entry
//
// AssembleInboxEnvelope() is that splice in C++; the Lua script does the same and the tests
// hold the two to one output. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace courier {

struct Message {
  std::string id;
  std::string conv;
  std::string from;
  std::string to;  // recipient address, e.g. "user:bob"
  std::string cmid;
  std::string kind;
  std::string body_json;  // the body, serialized compactly; REQUIRES: valid JSON
  int64_t ts = 0;         // ms since the Unix epoch
};

struct EnvelopeParts {
  std::string head;  // "type":"message","id":…,"conv":…
  std::string tail;  // "from":…,"to":…,"cmid":…,"kind":…,"body":…,"ts":…}
};

EnvelopeParts EncodeMessageParts(const Message& m);

std::string AssembleInboxEnvelope(const EnvelopeParts& parts, int64_t seq, std::string_view epoch,
                                  int64_t conv_seq);
std::string AssembleConversationEntry(const EnvelopeParts& parts, int64_t conv_seq);

// A notification's envelope after its opening '{"seq":S,"epoch":"E",', which the store adds:
// "type":"notification","event":<event>,"data":<data_json>,"ts":<ts>}
// REQUIRES: data_json is a JSON object, serialized compactly.
std::string EncodeNotificationRest(std::string_view event, std::string_view data_json, int64_t ts);

// {"type":"signal","kind":<kind>,"from":<from>,"conv":<conv>,"ts":<ts>}: pushed, never stored.
std::string EncodeSignal(std::string_view kind, std::string_view from, std::string_view conv,
                         int64_t ts);
// {"type":"signal","kind":"presence","from":<user>,"online":<online>,"ts":<ts>}
std::string EncodePresenceSignal(std::string_view user, bool online, int64_t ts);

// A stored message as history shows it once recalled: "recalled":true and a null body; the
// other fields stay. Returns the input unchanged if it is not a JSON object.
std::string RecalledForm(std::string_view message_json);

// {"type":"control","event":<event>,"reason":<reason>,"ts":<ts>}
std::string EncodeControl(std::string_view event, std::string_view reason, int64_t ts);

}  // namespace courier
