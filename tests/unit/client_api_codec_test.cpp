// The SDK's reading of the HTTP API on plain strings: base URLs, error answers as Status values,
// which send failures are retried, Retry-After, request paths and bodies, and every answer (login,
// send, sync, ack, groups, friends, blocks, rooms, conversations, history, presence), including
// every way they can be broken.
#include <doctest/doctest.h>

#include <string>

#include "client/api_codec.h"
#include "client/event_queue.h"

namespace courier::client {

namespace {

using nlohmann::json;
using Code = Status::Code;

HttpAnswer Answer(int status, const std::string& body = "", const std::string& retry_after = "") {
  HttpAnswer a;
  a.status = status;
  a.body = body;
  a.retry_after = retry_after;
  return a;
}

std::string ErrorBody(const std::string& code, const std::string& message) {
  return json{{"error", {{"code", code}, {"message", message}}}}.dump();
}

const char* kLogin = R"({"device_id":"phone","expires_at":1796505635000,
  "mqtt":{"client_id":"bob:phone","host":"127.0.0.1","password":"tok","port":1883,
          "topics":{"device":"courier/d/bob/phone","inbox":"courier/u/bob"},"username":"bob"},
  "token":"tok","user_id":"bob"})";

}  // namespace

TEST_CASE("client codec: base urls") {
  auto plain = ParseBaseUrl("http://127.0.0.1:8080");
  REQUIRE(plain.ok());
  CHECK(plain->host == "127.0.0.1");
  CHECK(plain->port == 8080);
  CHECK(plain->path_prefix.empty());

  auto no_port = ParseBaseUrl("http://api.example.com/");
  REQUIRE(no_port.ok());
  CHECK(no_port->port == 80);
  CHECK(no_port->path_prefix.empty());

  auto prefixed = ParseBaseUrl("http://gw:9000/courier/api//");
  REQUIRE(prefixed.ok());
  CHECK(prefixed->host == "gw");
  CHECK(prefixed->path_prefix == "/courier/api");

  auto v6 = ParseBaseUrl("http://[::1]:8080");
  REQUIRE(v6.ok());
  CHECK(v6->host == "::1");
  CHECK(v6->port == 8080);

  for (const char* bad : {"", "127.0.0.1:8080", "https://x", "ftp://x", "http://", "http://:80",
                          "http://x:0", "http://x:65536", "http://x:80a", "http://x:"}) {
    CAPTURE(bad);
    auto r = ParseBaseUrl(bad);
    CHECK_FALSE(r.ok());
    if (!r.ok()) CHECK(r.status().code() == Code::kInvalidField);
  }
}

TEST_CASE("client codec: the server's error code decides the Status") {
  struct Case {
    int http;
    const char* code;
    Code want;
  };
  for (const Case& c :
       {Case{400, "invalid_json", Code::kInvalidJson},
        Case{400, "invalid_field", Code::kInvalidField},
        Case{401, "unauthorized", Code::kUnauthorized}, Case{403, "forbidden", Code::kForbidden},
        Case{403, "not_member", Code::kNotMember}, Case{403, "blocked", Code::kBlocked},
        Case{404, "not_found", Code::kNotFound},
        Case{405, "method_not_allowed", Code::kMethodNotAllowed},
        Case{409, "conflict", Code::kConflict}, Case{413, "too_large", Code::kTooLarge},
        Case{429, "rate_limited", Code::kRateLimited}, Case{500, "internal", Code::kInternal},
        Case{503, "unavailable", Code::kUnavailable}}) {
    CAPTURE(c.code);
    Status s = StatusFromAnswer(Answer(c.http, ErrorBody(c.code, "why not")));
    CHECK(s.code() == c.want);
    CHECK(s.message() == "why not");
  }
  Status limited = StatusFromAnswer(Answer(429, ErrorBody("rate_limited", "slow down"), "3"));
  CHECK(limited.retry_after_s() == 3);
}

TEST_CASE("client codec: without a known code, the HTTP status decides") {
  struct Case {
    int http;
    Code want;
  };
  for (const Case& c :
       {Case{400, Code::kInvalidField}, Case{401, Code::kUnauthorized}, Case{403, Code::kForbidden},
        Case{404, Code::kNotFound}, Case{405, Code::kMethodNotAllowed}, Case{409, Code::kConflict},
        Case{413, Code::kTooLarge}, Case{429, Code::kRateLimited}, Case{500, Code::kInternal},
        Case{502, Code::kUnavailable}, Case{503, Code::kUnavailable}, Case{504, Code::kUnavailable},
        Case{418, Code::kInternal}, Case{302, Code::kInternal}}) {
    CAPTURE(c.http);
    for (const std::string& body :
         {std::string(), std::string("<html>bad gateway</html>"), std::string("[1,2]"),
          ErrorBody("some_future_code", "new"), std::string(R"({"error":"flat"})"),
          std::string(R"({"error":{"code":7,"message":null}})")}) {
      CAPTURE(body);
      CHECK(StatusFromAnswer(Answer(c.http, body)).code() == c.want);
    }
  }
  CHECK(StatusFromAnswer(Answer(404)).message() == "HTTP 404");
  CHECK(StatusFromAnswer(Answer(409, ErrorBody("some_future_code", "taken"))).message() == "taken");

  HttpAnswer none;
  none.error = "Connection";
  Status s = StatusFromAnswer(none);
  CHECK(s.code() == Code::kUnavailable);
  CHECK(s.message() == "no answer: Connection");
}

TEST_CASE("client codec: which send answers are retried with the same cmid") {
  CHECK(ClassifySendAnswer(Answer(201)) == SendVerdict::kStored);
  CHECK(ClassifySendAnswer(Answer(200)) == SendVerdict::kDuplicate);
  for (int retried : {0, 429, 500, 502, 503, 504}) {
    CAPTURE(retried);
    CHECK(ClassifySendAnswer(Answer(retried)) == SendVerdict::kRetry);
  }
  for (int failed : {202, 204, 301, 400, 401, 403, 404, 405, 409, 413, 418}) {
    CAPTURE(failed);
    CHECK(ClassifySendAnswer(Answer(failed)) == SendVerdict::kFail);
  }
}

TEST_CASE("client codec: Retry-After in whole seconds, capped, anything else is zero") {
  CHECK(RetryAfterOf(Answer(429, "", "1")) == std::chrono::seconds(1));
  CHECK(RetryAfterOf(Answer(429, "", "0")) == std::chrono::seconds(0));
  CHECK(RetryAfterOf(Answer(429, "", "99999999")) == std::chrono::hours(1));
  for (const char* bad : {"", "-1", "1.5", "soon", "Wed, 21 Oct 2015 07:28:00 GMT", " 2"}) {
    CAPTURE(bad);
    CHECK(RetryAfterOf(Answer(429, "", bad)) == std::chrono::milliseconds(0));
  }
}

TEST_CASE("client codec: the status code name round-trips") {
  for (Status s : {Status::InvalidJson("m"), Status::NotMember("m"), Status::Blocked("m"),
                   Status::MethodNotAllowed("m"), Status::RateLimited("m", 4),
                   Status::Unavailable("m"), Status::Internal("m")}) {
    Status back = StatusFromCodeName(s.code_name(), "again", s.retry_after_s());
    CHECK(back.code() == s.code());
    CHECK(back.message() == "again");
    CHECK(back.retry_after_s() == s.retry_after_s());
  }
  CHECK(StatusFromCodeName("nonsense", "m").ok());
}

TEST_CASE("client codec: a login answer, and the session saved from it") {
  auto login = ParseLoginAnswer(kLogin);
  REQUIRE(login.ok());
  CHECK(login->token == "tok");
  CHECK(login->user_id == "bob");
  CHECK(login->device_id == "phone");
  CHECK(login->expires_at_ms == 1796505635000);
  CHECK(login->mqtt["topics"]["inbox"] == "courier/u/bob");

  auto again = ParseLoginAnswer(LoginInfoToJson(*login).dump());
  REQUIRE(again.ok());
  CHECK(again->token == login->token);
  CHECK(again->mqtt == login->mqtt);
  CHECK(again->expires_at_ms == login->expires_at_ms);

  CHECK(ParseLoginAnswer("not json").status().code() == Code::kInvalidJson);
  CHECK(ParseLoginAnswer("[]").status().code() == Code::kInvalidJson);
  // Each required field missing or of the wrong type.
  for (const char* pointer :
       {"/token", "/user_id", "/device_id", "/expires_at", "/mqtt", "/mqtt/host", "/mqtt/port",
        "/mqtt/client_id", "/mqtt/username", "/mqtt/password", "/mqtt/topics", "/mqtt/topics/inbox",
        "/mqtt/topics/device"}) {
    CAPTURE(pointer);
    json missing = json::parse(kLogin);
    json::json_pointer p(pointer);
    missing[p.parent_pointer()].erase(p.back());
    auto r = ParseLoginAnswer(missing.dump());
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kInvalidField);
    json wrong = json::parse(kLogin);
    wrong[p] = json::array();
    CHECK_FALSE(ParseLoginAnswer(wrong.dump()).ok());
  }
  json bad_port = json::parse(kLogin);
  bad_port["mqtt"]["port"] = 70000;
  CHECK_FALSE(ParseLoginAnswer(bad_port.dump()).ok());
  json empty_token = json::parse(kLogin);
  empty_token["token"] = "";
  CHECK_FALSE(ParseLoginAnswer(empty_token.dump()).ok());
}

TEST_CASE("client codec: send, sync and ack answers") {
  auto sent = ParseSendAnswer(
      R"({"conv":"u:alice:bob","conv_seq":7,"id":"01M91EWCHADGBA8DSRCMZ75S98","ts":17})");
  REQUIRE(sent.ok());
  CHECK(sent->id == "01M91EWCHADGBA8DSRCMZ75S98");
  CHECK(sent->conv == "u:alice:bob");
  CHECK(sent->conv_seq == 7);
  CHECK(sent->ts == 17);
  CHECK_FALSE(ParseSendAnswer(R"({"conv":"u:a:b","conv_seq":"7","id":"x","ts":1})").ok());
  CHECK_FALSE(ParseSendAnswer("").ok());

  auto page = ParseSyncPage(
      R"({"epoch":"e1","items":[{"seq":1,"type":"message"},{"seq":2,"type":"message"}],)"
      R"("next_after":2,"has_more":true})");
  REQUIRE(page.ok());
  CHECK(page->epoch == "e1");
  REQUIRE(page->items.size() == 2);
  CHECK(page->items[1]["seq"] == 2);
  CHECK(page->next_after == 2);
  CHECK(page->has_more);
  auto empty = ParseSyncPage(R"({"epoch":"e1","items":[],"next_after":5,"has_more":false})");
  REQUIRE(empty.ok());
  CHECK(empty->items.empty());
  for (const char* bad : {"{", R"({"items":[],"next_after":0,"has_more":false})",
                          R"({"epoch":"e","items":{},"next_after":0,"has_more":false})",
                          R"({"epoch":"e","items":[1],"next_after":0,"has_more":false})",
                          R"({"epoch":"e","items":[],"next_after":0,"has_more":"no"})",
                          R"({"epoch":"e","items":[],"has_more":false})"}) {
    CAPTURE(bad);
    CHECK_FALSE(ParseSyncPage(bad).ok());
  }

  auto ack = ParseAckAnswer(R"({"latest_seq":12,"epoch":"e1"})");
  REQUIRE(ack.ok());
  CHECK(ack->latest_seq == 12);
  CHECK(ack->epoch == "e1");
  CHECK_FALSE(ParseAckAnswer(R"({"latest_seq":-1,"epoch":"e1"})").ok());
  CHECK_FALSE(ParseAckAnswer(R"({"latest_seq":1})").ok());
  CHECK_FALSE(ParseAckAnswer(R"({"latest_seq":1.5,"epoch":"e1"})").ok());
}

TEST_CASE("client codec: StringField never throws") {
  json j = {{"s", "x"}, {"n", 1}, {"null", nullptr}};
  CHECK(StringField(j, "s") == "x");
  CHECK(StringField(j, "n").empty());
  CHECK(StringField(j, "null").empty());
  CHECK(StringField(j, "absent").empty());
  CHECK(StringField(json::array(), "s").empty());
  CHECK(StringField(json(), "s").empty());
}

// Every parser below refuses text that is not a JSON object, and a JSON object without its fields.
template <typename Parse>
void CheckRefusesNonObjects(Parse parse) {
  for (const char* bad : {"", "not json", "{", "[]", "null", "17", "\"x\""}) {
    CAPTURE(bad);
    auto r = parse(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kInvalidJson);
  }
  auto empty = parse("{}");
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.status().code() == Code::kInvalidField);
}

// `valid` with the value at `pointer` removed, or replaced by `replacement`.
std::string Without(const std::string& valid, const char* pointer) {
  json j = json::parse(valid);
  json::json_pointer p(pointer);
  j[p.parent_pointer()].erase(p.back());
  return j.dump();
}
std::string With(const std::string& valid, const char* pointer, const json& replacement) {
  json j = json::parse(valid);
  j[json::json_pointer(pointer)] = replacement;
  return j.dump();
}

TEST_CASE("client codec: paths escape what they carry") {
  CHECK(PathSegment("g1") == "g1");
  CHECK(PathSegment("u:alice:bob") == "u:alice:bob");
  CHECK(PathSegment("A-z_0.9~") == "A-z_0.9~");
  CHECK(PathSegment("a/b?c#d e%") == "a%2Fb%3Fc%23d%20e%25");
  CHECK(PathSegment("..") == "..");
  CHECK(PathSegment("\xC3\xA9") == "%C3%A9");
  CHECK(PathSegment("").empty());

  CHECK(HistoryPath("g:g1", 0, 0) == "/v1/conversations/g:g1/messages");
  CHECK(HistoryPath("g:g1", 40, 0) == "/v1/conversations/g:g1/messages?before=40");
  CHECK(HistoryPath("g:g1", 0, 20) == "/v1/conversations/g:g1/messages?limit=20");
  CHECK(HistoryPath("u:a:b", 40, 20) == "/v1/conversations/u:a:b/messages?before=40&limit=20");
  CHECK(HistoryPath("x/../y", -1, -5) == "/v1/conversations/x%2F..%2Fy/messages");
  CHECK(ConversationsPath(0) == "/v1/conversations");
  CHECK(ConversationsPath(50) == "/v1/conversations?limit=50");
  CHECK(PresencePath({"a", "b.c", "d_e"}) == "/v1/presence?users=a,b.c,d_e");
  CHECK(PresencePath({"a&users=b"}) == "/v1/presence?users=a%26users%3Db");
}

TEST_CASE("client codec: request bodies") {
  CHECK(json::parse(EncodeCreateGroup("g1", "Book club", {"bob", "carol"})) ==
        json{{"group_id", "g1"}, {"name", "Book club"}, {"members", {"bob", "carol"}}});
  // No id: the server picks one. No members: an empty list, not null.
  CHECK(json::parse(EncodeCreateGroup("", "Solo", {})) ==
        json{{"name", "Solo"}, {"members", json::array()}});
  CHECK(json::parse(EncodeAddMembers({"dave"})) == json{{"user_ids", {"dave"}}});
  CHECK(json::parse(EncodeFriendRequest("bob", "hi from work")) ==
        json{{"to", "bob"}, {"note", "hi from work"}});
  CHECK(json::parse(EncodeFriendRequest("bob", "")) == json{{"to", "bob"}});
  CHECK(json::parse(EncodeBlock("mallory")) == json{{"user_id", "mallory"}});
  CHECK(json::parse(EncodeReadMark(12)) == json{{"conv_seq", 12}});
  CHECK(json::parse(EncodeSignal("group:g1", "typing")) ==
        json{{"to", "group:g1"}, {"kind", "typing"}});
  // Not UTF-8: replaced, never thrown.
  json odd = json::parse(EncodeCreateGroup("", "bad \xFF name", {}));
  CHECK(odd["name"] == "bad \xEF\xBF\xBD name");
}

TEST_CASE("client codec: a group") {
  const char* kGroup = R"({"group_id":"g1","name":"Book club","owner":"alice",
    "members":[{"user_id":"alice","role":"owner"},{"user_id":"bob","role":"member"}],
    "created_at":1764892800123,"future":"ignored"})";
  auto g = ParseGroup(kGroup);
  REQUIRE(g.ok());
  CHECK(g->group_id == "g1");
  CHECK(g->name == "Book club");
  CHECK(g->owner == "alice");
  REQUIRE(g->members.size() == 2);
  CHECK(g->members[1].user_id == "bob");
  CHECK(g->members[1].role == "member");
  CHECK(g->created_at_ms == 1764892800123);
  json back = ToJson(*g);
  CHECK(back == json::parse(Without(kGroup, "/future")));
  CHECK(ParseGroup(back.dump())->members.size() == 2);

  // created_at is optional (and left out again when 0); an empty name is a name.
  auto plain = ParseGroup(With(Without(kGroup, "/created_at"), "/name", ""));
  REQUIRE(plain.ok());
  CHECK(plain->created_at_ms == 0);
  CHECK(plain->name.empty());
  CHECK_FALSE(ToJson(*plain).contains("created_at"));
  CHECK(ParseGroup(With(kGroup, "/members", json::array()))->members.empty());

  CheckRefusesNonObjects(ParseGroup);
  auto ownerless = ParseGroup(With(kGroup, "/owner", nullptr));
  REQUIRE(ownerless.ok());
  CHECK(ownerless->owner.empty());
  CHECK(ToJson(*ownerless)["owner"].is_null());
  CHECK_FALSE(ParseGroup(With(kGroup, "/owner", 7)).ok());
  for (const char* pointer :
       {"/group_id", "/name", "/members", "/members/0/user_id", "/members/1/role"}) {
    CAPTURE(pointer);
    CHECK(ParseGroup(Without(kGroup, pointer)).status().code() == Code::kInvalidField);
    CHECK_FALSE(ParseGroup(With(kGroup, pointer, json::array({1}))).ok());
  }
  CHECK_FALSE(ParseGroup(With(kGroup, "/group_id", "")).ok());
  CHECK_FALSE(ParseGroup(With(kGroup, "/created_at", "yesterday")).ok());
  CHECK_FALSE(ParseGroup(With(kGroup, "/members/0", "alice")).ok());
  CHECK_FALSE(ParseGroup(With(kGroup, "/members", json::object())).ok());
}

TEST_CASE("client codec: friend requests, friends and blocks") {
  auto id = ParseFriendRequestId(R"({"request_id":"fr-1"})");
  REQUIRE(id.ok());
  CHECK(*id == "fr-1");
  CheckRefusesNonObjects(ParseFriendRequestId);
  CHECK_FALSE(ParseFriendRequestId(R"({"request_id":""})").ok());
  CHECK_FALSE(ParseFriendRequestId(R"({"request_id":7})").ok());

  const char* kRequests = R"({"items":[
    {"request_id":"fr-1","from":"bob","note":"hi","ts":17},
    {"request_id":"fr-2","from":"carol","note":null},
    {"request_id":"fr-3","from":"dave"}]})";
  auto requests = ParseFriendRequests(kRequests);
  REQUIRE(requests.ok());
  REQUIRE(requests->size() == 3);
  CHECK((*requests)[0].request_id == "fr-1");
  CHECK((*requests)[0].from == "bob");
  CHECK((*requests)[0].note == "hi");
  CHECK((*requests)[0].ts == 17);
  CHECK((*requests)[1].note.empty());
  CHECK((*requests)[2].ts == 0);
  CHECK(ToJson((*requests)[0]) ==
        json{{"request_id", "fr-1"}, {"from", "bob"}, {"note", "hi"}, {"ts", 17}});
  CHECK(ParseFriendRequests(R"({"items":[]})")->empty());
  CheckRefusesNonObjects(ParseFriendRequests);
  for (const char* pointer : {"/items", "/items/0/request_id", "/items/0/from"}) {
    CAPTURE(pointer);
    CHECK(ParseFriendRequests(Without(kRequests, pointer)).status().code() == Code::kInvalidField);
  }
  CHECK_FALSE(ParseFriendRequests(With(kRequests, "/items/0/note", 5)).ok());
  CHECK_FALSE(ParseFriendRequests(With(kRequests, "/items/0/ts", "17")).ok());
  CHECK_FALSE(ParseFriendRequests(With(kRequests, "/items/1", "fr-2")).ok());

  const char* kFriends = R"({"items":[{"user_id":"bob","since":1000},{"user_id":"carol"}]})";
  auto friends = ParseFriends(kFriends);
  REQUIRE(friends.ok());
  REQUIRE(friends->size() == 2);
  CHECK((*friends)[0].user_id == "bob");
  CHECK((*friends)[0].since_ms == 1000);
  CHECK((*friends)[1].since_ms == 0);
  CHECK(ToJson((*friends)[0]) == json{{"user_id", "bob"}, {"since", 1000}});
  CheckRefusesNonObjects(ParseFriends);
  CHECK_FALSE(ParseFriends(Without(kFriends, "/items/0/user_id")).ok());
  CHECK_FALSE(ParseFriends(With(kFriends, "/items/0/since", 1.5)).ok());

  auto blocks = ParseBlocks(R"({"items":[{"user_id":"mallory"},{"user_id":"eve"}]})");
  REQUIRE(blocks.ok());
  CHECK(*blocks == std::vector<std::string>{"mallory", "eve"});
  CHECK(ParseBlocks(R"({"items":[]})")->empty());
  CheckRefusesNonObjects(ParseBlocks);
  CHECK_FALSE(ParseBlocks(R"({"items":["mallory"]})").ok());
  CHECK_FALSE(ParseBlocks(R"({"items":[{"user_id":""}]})").ok());
  CHECK_FALSE(ParseBlocks(R"({"items":{}})").ok());
}

TEST_CASE("client codec: room join answers and room topics") {
  CHECK(*ParseRoomJoinAnswer(R"({"topic":"courier/r/lobby"})") == "courier/r/lobby");
  CHECK(ParseRoomJoinAnswer("{}")->empty());  // the SDK derives the topic then
  CHECK(ParseRoomJoinAnswer(R"({"topic":null})")->empty());
  CHECK(ParseRoomJoinAnswer("")->empty());
  CHECK(ParseRoomJoinAnswer(" \n")->empty());
  CHECK(ParseRoomJoinAnswer("[1]").status().code() == Code::kInvalidJson);
  CHECK(ParseRoomJoinAnswer(R"({"topic":3})").status().code() == Code::kInvalidField);

  CHECK(*RoomTopic("courier/u/alice", "lobby") == "courier/r/lobby");
  CHECK(*RoomTopic("acme/im/u/alice", "r.1") == "acme/im/r/r.1");
  CHECK(*RoomTopic("x/u/u", "u") == "x/r/u");
  for (const char* inbox : {"", "courier", "courier/u/", "/u/alice", "u/alice", "courier/d/alice",
                            "courier/u/alice/", "courier/uu/alice"}) {
    CAPTURE(inbox);
    CHECK(RoomTopic(inbox, "lobby").status().code() == Code::kInvalidField);
  }
  for (const char* room : {"", "a/b", "+", "#", "has space", "caf\xC3\xA9"}) {
    CAPTURE(room);
    CHECK(RoomTopic("courier/u/alice", room).status().code() == Code::kInvalidField);
  }
}

TEST_CASE("client codec: conversations, history and presence") {
  const char* kConversations = R"({"items":[
    {"conv":"g:g1","last":{"seq":9,"type":"message","conv":"g:g1","conv_seq":4},"unread":2},
    {"conv":"u:alice:bob","last":{"seq":3,"type":"message"},"unread":0}]})";
  auto conversations = ParseConversations(kConversations);
  REQUIRE(conversations.ok());
  REQUIRE(conversations->size() == 2);
  CHECK((*conversations)[0].conv == "g:g1");
  CHECK((*conversations)[0].last["conv_seq"] == 4);
  CHECK((*conversations)[0].unread == 2);
  CHECK(ToJson((*conversations)[1]) == json::parse(kConversations)["items"][1]);
  CHECK(ParseConversations(R"({"items":[]})")->empty());
  CheckRefusesNonObjects(ParseConversations);
  for (const char* pointer : {"/items", "/items/0/conv", "/items/0/last", "/items/0/unread"}) {
    CAPTURE(pointer);
    CHECK(ParseConversations(Without(kConversations, pointer)).status().code() ==
          Code::kInvalidField);
  }
  CHECK_FALSE(ParseConversations(With(kConversations, "/items/0/last", "msg")).ok());
  CHECK_FALSE(ParseConversations(With(kConversations, "/items/0/unread", -1)).ok());
  CHECK_FALSE(ParseConversations(With(kConversations, "/items/0/unread", "2")).ok());

  const char* kPage = R"({"items":[{"id":"m2","conv_seq":2},{"id":"m1","conv_seq":1}],
    "has_more":true})";
  auto page = ParseMessagePage(kPage);
  REQUIRE(page.ok());
  REQUIRE(page->items.size() == 2);
  CHECK(page->items[0]["id"] == "m2");
  CHECK(page->has_more);
  CHECK(ToJson(*page) == json::parse(kPage));
  auto empty = ParseMessagePage(R"({"items":[],"has_more":false})");
  REQUIRE(empty.ok());
  CHECK(empty->items.empty());
  CHECK_FALSE(empty->has_more);
  CheckRefusesNonObjects(ParseMessagePage);
  CHECK_FALSE(ParseMessagePage(Without(kPage, "/has_more")).ok());
  CHECK_FALSE(ParseMessagePage(Without(kPage, "/items")).ok());
  CHECK_FALSE(ParseMessagePage(With(kPage, "/has_more", "yes")).ok());
  CHECK_FALSE(ParseMessagePage(With(kPage, "/items/0", 2)).ok());

  const char* kPresence = R"({"alice":{"online":true,"last_seen":1764892800123},
    "bob":{"online":false,"last_seen":null},"carol":{"online":false}})";
  auto presence = ParsePresence(kPresence);
  REQUIRE(presence.ok());
  REQUIRE(presence->size() == 3);
  CHECK(presence->at("alice").online);
  CHECK(presence->at("alice").last_seen_ms == 1764892800123);
  CHECK_FALSE(presence->at("bob").online);
  CHECK(presence->at("bob").last_seen_ms == 0);
  CHECK(presence->at("carol").last_seen_ms == 0);
  json back = ToJson(*presence);
  CHECK(back["alice"] == json{{"online", true}, {"last_seen", 1764892800123}});
  CHECK(back["carol"] == json{{"online", false}, {"last_seen", nullptr}});
  CHECK(ParsePresence("{}")->empty());
  for (const char* bad : {"", "[]", "null"}) {
    CAPTURE(bad);
    CHECK(ParsePresence(bad).status().code() == Code::kInvalidJson);
  }
  CHECK(ParsePresence(Without(kPresence, "/alice/online")).status().code() == Code::kInvalidField);
  CHECK_FALSE(ParsePresence(With(kPresence, "/alice/online", "yes")).ok());
  CHECK_FALSE(ParsePresence(With(kPresence, "/alice/last_seen", "now")).ok());
  CHECK_FALSE(ParsePresence(With(kPresence, "/bob", true)).ok());
}

TEST_CASE("client event queue: posts in order, wakes on stop, times out") {
  EventQueue<int> q;
  q.Post(1);
  q.Post(2);
  q.WaitUntil(EventQueue<int>::Clock::now() + std::chrono::seconds(5));  // returns at once
  auto first = q.TakeAll();
  CHECK(std::vector<int>(first.begin(), first.end()) == std::vector<int>{1, 2});
  CHECK(q.TakeAll().empty());

  auto start = EventQueue<int>::Clock::now();
  q.WaitUntil(start + std::chrono::milliseconds(20));
  CHECK(EventQueue<int>::Clock::now() - start >= std::chrono::milliseconds(20));

  q.RequestStop();
  CHECK(q.stop_requested());
  start = EventQueue<int>::Clock::now();
  q.WaitUntil(start + std::chrono::seconds(5));
  CHECK(EventQueue<int>::Clock::now() - start < std::chrono::seconds(1));
  q.Post(3);
  q.Reset();
  CHECK_FALSE(q.stop_requested());
  CHECK(q.TakeAll().empty());
}

TEST_CASE("client event queue: PostIfOpen queues only between Reset and Close") {
  EventQueue<int> q;
  CHECK_FALSE(q.PostIfOpen(1));  // never opened: no loop will look
  CHECK(q.TakeAll().empty());
  q.Reset();
  CHECK(q.PostIfOpen(2));
  q.Post(3);
  q.RequestStop();
  CHECK(q.PostIfOpen(4));  // stopping, but the loop has not ended: Close() returns it
  auto left = q.Close();
  CHECK(std::vector<int>(left.begin(), left.end()) == std::vector<int>{2, 3, 4});
  CHECK_FALSE(q.PostIfOpen(5));
  CHECK(q.Close().empty());
  q.Reset();
  CHECK(q.PostIfOpen(6));
  auto taken = q.TakeAll();
  CHECK(std::vector<int>(taken.begin(), taken.end()) == std::vector<int>{6});
}

}  // namespace courier::client
