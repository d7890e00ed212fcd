// The SDK's reading of the HTTP API on plain strings: base URLs, error answers as Status values,
// which send failures are retried, Retry-After, and the login, send, sync and ack answers,
// including every way they can be broken.
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

}  // namespace courier::client
