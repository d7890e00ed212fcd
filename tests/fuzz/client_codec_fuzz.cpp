// Fuzz target: the SDK's decoders of what comes over the network (client/api_codec.h,
// inbox_sequencer.h, room_filter.h). A client trusts its server no more than the server trusts
// its clients: a broken proxy, a wrong address or a hostile network must not crash an app.
//
// Input: one selector byte, then
//   a   an answer body (the rest) for the parser picked by the next byte: l login, s send,
//       y sync, a ack, g group, i friend request id, q friend requests, f friends, b blocks,
//       j room join, c conversations, m message page, p presence
//   e   a failed exchange: lines HTTP status (decimal), Retry-After, then the body (the rest)
//   p   what the MQTT link delivers, one per line: "I<json>" an inbox push, "S<json>" a sync
//       page answer, "A<json>" an ack answer, "R<json>" a push on room topic "lobby"
//   u   the strings an app passes in: lines base URL, inbox topic, room id, then a path
//       segment / request field (the rest)
// Any other selector byte picks one of these by its value.
//
// Asserts: nothing throws; a parser refuses with invalid_json/invalid_field only; what it
// accepts round-trips through the ToJson/LoginInfoToJson the CLI prints and saves. A failed
// exchange is never OK and waits at most an hour. The sequencer delivers each inbox seq of an
// epoch at most once and in increasing order, consecutively except for what a sync page says
// the server no longer has, and holds no more than its bound; the room filter never admits a
// room_seq twice. Request bodies are JSON whatever bytes go in; path segments hold only
// unreserved characters and %XX and decode to the input.
#include <charconv>

#include "client/api_codec.h"
#include "client/inbox_sequencer.h"
#include "client/room_filter.h"
#include "common/ids.h"
#include "tests/fuzz/fuzz_support.h"

namespace courier::fuzz {
namespace {

using namespace courier::client;
using nlohmann::json;

bool IsAnswerError(const Status& s) {
  return s.code() == Status::Code::kInvalidJson || s.code() == Status::Code::kInvalidField;
}

// Checks `r` is a clean refusal or a value that `again` (the parse of its JSON form) equals.
template <typename T, typename Reparse, typename Same>
void CheckRoundTrip(const Result<T>& r, Reparse reparse, Same same) {
  if (!r.ok()) {
    FUZZ_CHECK(IsAnswerError(r.status()));
    return;
  }
  auto again = reparse(*r);
  FUZZ_CHECK(again.ok() && same(*again, *r));
}

json Items(const json& list) { return json{{"items", list}}; }

void FuzzAnswer(uint8_t which, std::string_view body) {
  static constexpr std::string_view kParsers = "lsyagiqfbjcmp";
  size_t parser = kParsers.find(static_cast<char>(which));
  switch (parser != std::string_view::npos ? parser : which % kParsers.size()) {
    case 0:
      CheckRoundTrip(
          ParseLoginAnswer(body),
          [](const LoginInfo& i) { return ParseLoginAnswer(LoginInfoToJson(i).dump()); },
          [](const LoginInfo& a, const LoginInfo& b) {
            return a.token == b.token && a.user_id == b.user_id && a.device_id == b.device_id &&
                   a.expires_at_ms == b.expires_at_ms && a.mqtt == b.mqtt;
          });
      break;
    case 1: {
      auto r = ParseSendAnswer(body);
      if (r.ok()) FUZZ_CHECK(!r->id.empty() && !r->conv.empty());
      if (!r.ok()) FUZZ_CHECK(IsAnswerError(r.status()));
      break;
    }
    case 2: {
      auto r = ParseSyncPage(body);
      if (!r.ok()) FUZZ_CHECK(IsAnswerError(r.status()));
      if (r.ok()) {
        FUZZ_CHECK(!r->epoch.empty());
        for (const auto& item : r->items) FUZZ_CHECK(item.is_object());
      }
      break;
    }
    case 3: {
      auto r = ParseAckAnswer(body);
      if (!r.ok()) FUZZ_CHECK(IsAnswerError(r.status()));
      if (r.ok()) FUZZ_CHECK(r->latest_seq >= 0 && !r->epoch.empty());
      break;
    }
    case 4:
      CheckRoundTrip(
          ParseGroup(body), [](const Group& g) { return ParseGroup(ToJson(g).dump()); },
          [](const Group& a, const Group& b) {
            if (a.group_id != b.group_id || a.name != b.name || a.owner != b.owner ||
                a.created_at_ms != b.created_at_ms || a.members.size() != b.members.size()) {
              return false;
            }
            for (size_t i = 0; i < a.members.size(); ++i) {
              if (a.members[i].user_id != b.members[i].user_id ||
                  a.members[i].role != b.members[i].role) {
                return false;
              }
            }
            return true;
          });
      break;
    case 5: {
      auto r = ParseFriendRequestId(body);
      if (!r.ok()) FUZZ_CHECK(IsAnswerError(r.status()));
      if (r.ok()) FUZZ_CHECK(!r->empty());
      break;
    }
    case 6:
      CheckRoundTrip(
          ParseFriendRequests(body),
          [](const std::vector<FriendRequest>& list) {
            json items = json::array();
            for (const auto& r : list) items.push_back(ToJson(r));
            return ParseFriendRequests(Items(items).dump());
          },
          [](const std::vector<FriendRequest>& a, const std::vector<FriendRequest>& b) {
            if (a.size() != b.size()) return false;
            for (size_t i = 0; i < a.size(); ++i) {
              if (a[i].request_id != b[i].request_id || a[i].from != b[i].from ||
                  a[i].note != b[i].note || a[i].ts != b[i].ts) {
                return false;
              }
            }
            return true;
          });
      break;
    case 7:
      CheckRoundTrip(
          ParseFriends(body),
          [](const std::vector<Friend>& list) {
            json items = json::array();
            for (const auto& f : list) items.push_back(ToJson(f));
            return ParseFriends(Items(items).dump());
          },
          [](const std::vector<Friend>& a, const std::vector<Friend>& b) {
            if (a.size() != b.size()) return false;
            for (size_t i = 0; i < a.size(); ++i) {
              if (a[i].user_id != b[i].user_id || a[i].since_ms != b[i].since_ms) return false;
            }
            return true;
          });
      break;
    case 8: {
      auto r = ParseBlocks(body);
      if (!r.ok()) FUZZ_CHECK(IsAnswerError(r.status()));
      if (r.ok()) {
        for (const auto& u : *r) FUZZ_CHECK(!u.empty());
      }
      break;
    }
    case 9: {
      auto r = ParseRoomJoinAnswer(body);
      if (!r.ok()) FUZZ_CHECK(IsAnswerError(r.status()));
      break;
    }
    case 10:
      CheckRoundTrip(
          ParseConversations(body),
          [](const std::vector<ConversationSummary>& list) {
            json items = json::array();
            for (const auto& c : list) items.push_back(ToJson(c));
            return ParseConversations(Items(items).dump());
          },
          [](const std::vector<ConversationSummary>& a, const std::vector<ConversationSummary>& b) {
            if (a.size() != b.size()) return false;
            for (size_t i = 0; i < a.size(); ++i) {
              if (a[i].conv != b[i].conv || a[i].last != b[i].last || a[i].unread != b[i].unread) {
                return false;
              }
            }
            return true;
          });
      break;
    case 11:
      CheckRoundTrip(
          ParseMessagePage(body),
          [](const MessagePage& p) { return ParseMessagePage(ToJson(p).dump()); },
          [](const MessagePage& a, const MessagePage& b) {
            return a.items == b.items && a.has_more == b.has_more;
          });
      break;
    default:
      CheckRoundTrip(
          ParsePresence(body),
          [](const std::map<std::string, Presence>& p) { return ParsePresence(ToJson(p).dump()); },
          [](const std::map<std::string, Presence>& a, const std::map<std::string, Presence>& b) {
            if (a.size() != b.size()) return false;
            for (const auto& [user, p] : a) {
              auto it = b.find(user);
              if (it == b.end() || it->second.online != p.online ||
                  it->second.last_seen_ms != p.last_seen_ms) {
                return false;
              }
            }
            return true;
          });
      break;
  }
}

void FuzzFailedExchange(FuzzInput& in) {
  HttpAnswer answer;
  std::string_view status = in.TakeLine();
  std::from_chars(status.data(), status.data() + status.size(), answer.status);
  answer.retry_after = std::string(in.TakeLine());
  answer.body = std::string(in.TakeRest());
  auto wait = RetryAfterOf(answer);
  FUZZ_CHECK(wait.count() >= 0 && wait <= std::chrono::hours(1));
  ClassifySendAnswer(answer);
  if (answer.status >= 200 && answer.status < 300) return;  // REQUIRES: the exchange failed
  Status s = StatusFromAnswer(answer);
  FUZZ_CHECK(!s.ok() && !s.message().empty());
  if (answer.status == 0) FUZZ_CHECK(s.code() == Status::Code::kUnavailable);
}

// Feeds the link's deliveries to the sequencer and the room filter the way the client's event
// thread does, and checks the order they hand to the app.
void FuzzPushes(FuzzInput& in) {
  constexpr size_t kMaxHeld = 16;
  InboxSequencer sequencer(0, "", kMaxHeld);
  RoomSeqFilter rooms;
  int64_t last_room_seq = 0;
  while (!in.empty()) {
    std::string_view line = in.TakeLine();
    if (line.empty()) continue;
    char kind = line.front();
    json envelope = json::parse(line.substr(1), nullptr, /*allow_exceptions=*/false);
    if (envelope.is_discarded() || !envelope.is_object()) continue;

    const int64_t before = sequencer.last_seq();
    InboxSequencer::Step step;
    bool from_sync = false;
    if (kind == 'I') {
      if (!envelope.contains("seq") || SeqOf(envelope) < 0) continue;
      step = sequencer.OnPush(envelope);
    } else if (kind == 'S') {
      auto page = ParseSyncPage(line.substr(1));
      if (!page.ok()) continue;
      step = sequencer.OnSyncPage(page->epoch, page->items, page->has_more);
      from_sync = true;
    } else if (kind == 'A') {
      auto ack = ParseAckAnswer(line.substr(1));
      if (!ack.ok()) continue;
      step = sequencer.OnAckAnswer(ack->latest_seq, ack->epoch);
      FUZZ_CHECK(step.deliver.empty());
    } else if (kind == 'R') {
      int64_t room_seq = RoomSeqOf(envelope);
      if (room_seq < 0) continue;
      bool admitted = rooms.Admit("lobby", room_seq);
      FUZZ_CHECK(admitted == (room_seq > last_room_seq));
      if (admitted) last_room_seq = room_seq;
      FUZZ_CHECK(rooms.last("lobby") == last_room_seq);
      continue;
    } else {
      continue;
    }

    int64_t expected = step.reset ? 0 : before;
    int64_t skipped = 0;
    for (const json& delivered : step.deliver) {
      int64_t seq = SeqOf(delivered);
      FUZZ_CHECK(seq > expected);
      if (seq != expected + 1) {
        FUZZ_CHECK(from_sync);
        skipped += seq - expected - 1;
      }
      expected = seq;
    }
    FUZZ_CHECK(skipped == step.skipped);
    FUZZ_CHECK(sequencer.last_seq() == expected);
    FUZZ_CHECK(sequencer.held() <= kMaxHeld);
  }
}

int Unhex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void FuzzLocalStrings(FuzzInput& in) {
  std::string_view url = in.TakeLine();
  if (auto base = ParseBaseUrl(url); base.ok()) {
    FUZZ_CHECK(!base->host.empty() && base->port >= 1 && base->port <= 65535);
    FUZZ_CHECK(base->path_prefix.empty() ||
               (base->path_prefix.front() == '/' && base->path_prefix.back() != '/'));
  } else {
    FUZZ_CHECK(base.status().code() == Status::Code::kInvalidField);
  }

  std::string_view inbox = in.TakeLine();
  std::string_view room = in.TakeLine();
  if (auto topic = RoomTopic(inbox, room); topic.ok()) {
    FUZZ_CHECK(IsValidId(room));
    FUZZ_CHECK(topic->size() > room.size() + 3);
    FUZZ_CHECK(topic->substr(topic->size() - room.size() - 3) == "/r/" + std::string(room));
  }

  std::string text(in.TakeRest());
  std::string segment = PathSegment(text);
  std::string decoded;
  for (size_t i = 0; i < segment.size(); ++i) {
    char c = segment[i];
    FUZZ_CHECK(c != '/' && c != '?' && c != '#' && c != '&' && c != ' ');
    if (c != '%') {
      decoded += c;
      continue;
    }
    FUZZ_CHECK(i + 2 < segment.size());
    int hi = Unhex(segment[i + 1]), lo = Unhex(segment[i + 2]);
    FUZZ_CHECK(hi >= 0 && lo >= 0);
    decoded += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  FUZZ_CHECK(decoded == text);

  // Request bodies from app strings: JSON whatever the bytes (invalid UTF-8 is replaced).
  for (const std::string& body :
       {EncodeCreateGroup(text, text, {text, text}), EncodeAddMembers({text}), EncodeSetRole(text),
        EncodeFriendRequest(text, text), EncodeBlock(text), EncodeSignal(text, text)}) {
    json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
    FUZZ_CHECK(j.is_object());
  }
}

}  // namespace
}  // namespace courier::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace courier::fuzz;
  static constexpr std::string_view kSelectors = "aepu";
  FuzzInput in(data, size);
  uint8_t byte = in.TakeByte();
  char selector = kSelectors.find(static_cast<char>(byte)) != std::string_view::npos
                      ? static_cast<char>(byte)
                      : kSelectors[byte % kSelectors.size()];
  NoThrow([&] {
    switch (selector) {
      case 'a': {
        uint8_t which = in.TakeByte();
        FuzzAnswer(which, in.TakeRest());
        break;
      }
      case 'e':
        FuzzFailedExchange(in);
        break;
      case 'p':
        FuzzPushes(in);
        break;
      default:
        FuzzLocalStrings(in);
        break;
    }
  });
  return 0;
}
