#include "daemon/registry/registry_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "reconciler/time_util.h"

namespace crtoken {
namespace {

using nlohmann::json;

// A token as the real API returns it (docs/api/README.md).
const char kToken[] = R"({
  "id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "type": "token", "href": "",
  "metadata": {"createdBy": "u", "createdByUserId": "1", "createdDate": "2026-01-01T00:00:00Z",
               "state": "enabled", "lastModifiedBy": null, "lastModifiedDate": null},
  "properties": {
    "name": "ci-push", "status": "disabled", "expiryDate": "2027-06-30T02:00:00.123+02:00",
    "credentials": {"username": "ci-push", "password": "pw-once"},
    "scopes": [{"name": "app/*", "type": "repository", "actions": ["pull", "push"]},
               {"name": "*", "type": "registry", "actions": null}]
  }
})";

TEST(RegistryJsonTest, DecodesToken) {
  Password pw;
  auto t = DecodeToken(kToken, &pw);
  ASSERT_TRUE(t.ok()) << t.error().ToString();
  EXPECT_EQ(t.value().id, "3fa85f64-5717-4562-b3fc-2c963f66afa6");
  EXPECT_EQ(t.value().name, "ci-push");
  EXPECT_EQ(t.value().status, TokenStatus::kDisabled);
  EXPECT_EQ(t.value().expiry, ParseRfc3339("2027-06-30T00:00:00Z"));
  ASSERT_EQ(t.value().scopes.size(), 2u);
  EXPECT_EQ(t.value().scopes[0], (Scope{"app/*", "repository", {"pull", "push"}}));
  EXPECT_EQ(t.value().scopes[1], (Scope{"*", "registry", {}}));
  EXPECT_EQ(pw.Reveal(), "pw-once");
}

TEST(RegistryJsonTest, NullExpiryAndScopes) {
  json j = json::parse(kToken);
  j["properties"]["expiryDate"] = nullptr;
  j["properties"]["scopes"] = nullptr;
  j["properties"]["credentials"]["password"] = "";
  Password pw("stale");
  auto t = DecodeToken(j.dump(), &pw);
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t.value().expiry.has_value());
  EXPECT_TRUE(t.value().scopes.empty());
  EXPECT_TRUE(pw.empty());
}

TEST(RegistryJsonTest, MalformedTokensAreUnavailable) {
  for (const std::string& bad :
       {std::string("{"), std::string("[]"), std::string("<html>502</html>"),
        std::string(R"({"id":"x"})"),
        std::string(R"({"id":"x","properties":{"name":"a","status":"on"}})"),
        std::string(R"({"id":"x","properties":{"name":"a","expiryDate":"tomorrow"}})"),
        std::string(R"({"id":"x","properties":{"name":"a","scopes":{}}})")}) {
    auto t = DecodeToken(bad, nullptr);
    ASSERT_FALSE(t.ok()) << bad;
    EXPECT_EQ(t.error().kind, ErrorKind::kUnavailable);
    EXPECT_NE(t.error().message.find("malformed response"), std::string::npos);
  }
}

TEST(RegistryJsonTest, ParseErrorsDoNotQuoteTheBody) {
  auto t =
      DecodeToken(R"({"properties":{"credentials":{"password":"hunter2-secret" oops)", nullptr);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().message.find("hunter2"), std::string::npos) << t.error().message;
}

TEST(RegistryJsonTest, TokenPage) {
  json page = {{"_links", {{"next", ""}, {"previous", ""}, {"self", ""}}},
               {"count", 1},
               {"limit", 100},
               {"offset", 200},
               {"total", 201},
               {"items", json::array({json::parse(kToken)})}};
  auto p = DecodeTokenPage(page.dump());
  ASSERT_TRUE(p.ok()) << p.error().ToString();
  EXPECT_EQ(p.value().count, 1);
  EXPECT_EQ(p.value().offset, 200);
  EXPECT_EQ(p.value().total, 201);
  ASSERT_EQ(p.value().items.size(), 1u);

  page["count"] = 2;  // disagrees with the items
  EXPECT_FALSE(DecodeTokenPage(page.dump()).ok());
  page.erase("total");
  EXPECT_FALSE(DecodeTokenPage(page.dump()).ok());
}

TEST(RegistryJsonTest, RegistryPage) {
  const char body[] = R"({"id":"registries","type":"collection","href":"",
    "pagination":{"limit":100,"token":"abc=="},
    "items":[{"id":"0b7f1a4e-9f59-4c3c-8d8e-55aa44aa0c11","type":"registry","href":"",
              "metadata":{"state":"Running"},
              "properties":{"name":"acme","hostname":"acme.cr.de-fra.ionos.com","location":"de/fra"}}]})";
  auto p = DecodeRegistryPage(body);
  ASSERT_TRUE(p.ok()) << p.error().ToString();
  EXPECT_EQ(p.value().next_token, "abc==");
  ASSERT_EQ(p.value().items.size(), 1u);
  EXPECT_EQ(p.value().items[0].name, "acme");
  EXPECT_EQ(p.value().items[0].hostname, "acme.cr.de-fra.ionos.com");
  EXPECT_EQ(p.value().items[0].state, "Running");

  auto last = DecodeRegistryPage(R"({"items":[],"pagination":{"limit":100,"token":""}})");
  ASSERT_TRUE(last.ok());
  EXPECT_TRUE(last.value().next_token.empty());
  auto absent = DecodeRegistryPage(R"({"items":null})");
  ASSERT_TRUE(absent.ok());
  EXPECT_TRUE(absent.value().next_token.empty());
}

TEST(RegistryJsonTest, EncodeCreateAlwaysSendsStatusAndScopes) {
  TokenFields f;
  f.name = "ci-pull";
  json j = json::parse(EncodeTokenCreate(f));
  EXPECT_EQ(j, json::parse(R"({"properties":{"name":"ci-pull","status":"enabled","scopes":[]}})"));

  f.status = TokenStatus::kDisabled;
  f.expiry = ParseRfc3339("2027-06-30T02:00:00+02:00");
  f.scopes = {{"app/*", "repository", {"pull"}}};
  j = json::parse(EncodeTokenCreate(f));
  EXPECT_EQ(j, json::parse(R"({"properties":{"name":"ci-pull","status":"disabled",
      "expiryDate":"2027-06-30T00:00:00Z",
      "scopes":[{"name":"app/*","type":"repository","actions":["pull"]}]}})"));
}

// The bodies are written by hand: every string goes through the JSON escaper, and what the API
// parses is exactly what was meant.
TEST(RegistryJsonTest, EncodedBodiesCarryEveryStringExactly) {
  const std::string odd = "a\"b\\c\n\t\x01/\u00e9\u2603";
  TokenFields f;
  f.name = odd;
  f.scopes = {{odd, "repository", {"pull", odd}}, {"*", odd, {}}};
  const json create = json::parse(EncodeTokenCreate(f));
  EXPECT_EQ(create["properties"]["name"], odd);
  EXPECT_EQ(create["properties"]["scopes"][0]["name"], odd);
  EXPECT_EQ(create["properties"]["scopes"][0]["actions"], json::array({"pull", odd}));
  EXPECT_EQ(create["properties"]["scopes"][1]["type"], odd);
  EXPECT_EQ(create["properties"]["scopes"][1]["actions"], json::array());
  EXPECT_EQ(create["properties"].size(), 3u);  // no expiryDate when there is none

  TokenPatch p;
  p.scopes = f.scopes;
  p.status = TokenStatus::kDisabled;
  EXPECT_EQ(
      json::parse(EncodeTokenPatch(p)),
      json::parse(R"({"status":"disabled","scopes":[)" + create["properties"]["scopes"][0].dump() +
                  "," + create["properties"]["scopes"][1].dump() + "]}"));
}

TEST(RegistryJsonTest, EncodePatchOnlySetFields) {
  TokenPatch p;
  EXPECT_EQ(json::parse(EncodeTokenPatch(p)), json::object());
  p.expiry = std::optional<Instant>();  // clear
  EXPECT_EQ(json::parse(EncodeTokenPatch(p)), json::parse(R"({"expiryDate":null})"));
  p.expiry = ParseRfc3339("2028-01-01T00:00:00Z");
  p.status = TokenStatus::kEnabled;
  p.scopes = std::vector<Scope>{};
  EXPECT_EQ(json::parse(EncodeTokenPatch(p)),
            json::parse(R"({"expiryDate":"2028-01-01T00:00:00Z","status":"enabled","scopes":[]})"));
}

TEST(RegistryJsonTest, DescribeErrorBody) {
  EXPECT_EQ(DescribeErrorBody(
                R"({"httpStatus":409,"messages":[{"errorCode":"409","message":"name taken"},
                    {"errorCode":"","message":"second"}]})"),
            "name taken (errorCode 409); second");
  EXPECT_EQ(DescribeErrorBody(R"({"msg":"Not Found"})"), R"({"msg":"Not Found"})");
  EXPECT_EQ(DescribeErrorBody("line1\nline2"), "line1\\nline2");
  EXPECT_EQ(DescribeErrorBody(""), "");
  EXPECT_EQ(DescribeErrorBody(std::string(300, 'x')),
            std::string(200, 'x') + "... (100 more bytes)");
}

// A server's message is the one text from outside that reaches error messages, logs and stderr:
// it arrives there on one line, without terminal escapes, and bounded.
TEST(RegistryJsonTest, DescribeErrorBodyEscapesAndCapsTheServersText) {
  const auto body = [](const std::string& message) {
    return json{{"httpStatus", 400}, {"messages", {{{"errorCode", "E"}, {"message", message}}}}}
        .dump();
  };
  // A forged log line, in colour.
  const std::string forged = DescribeErrorBody(
      body("bad\n2026-01-01T00:00:00.000Z info  \x1b[32mall tokens deleted\x1b[0m\r\x7f\xc2\x9b"));
  EXPECT_EQ(forged,
            "bad\\n2026-01-01T00:00:00.000Z info  \\u001b[32mall tokens deleted\\u001b[0m\\r"
            "\\u007f\\u009b (errorCode E)");
  // A message of nothing but escapes.
  const std::string escapes = DescribeErrorBody(body(std::string(64, '\x1b')));
  EXPECT_EQ(escapes.find('\x1b'), std::string::npos);
  EXPECT_NE(escapes.find("\\u001b\\u001b"), std::string::npos) << escapes;
  // 20 MB of message: a bounded excerpt saying how much was left out.
  const std::string huge = DescribeErrorBody(body(std::string(20 << 20, 'm')));
  EXPECT_LE(huge.size(), kMaxApiMessageBytes + 40);
  EXPECT_NE(huge.find("more bytes)"), std::string::npos);
  // Many messages: the same bound.
  json many = {{"messages", json::array()}};
  for (int i = 0; i < 100000; ++i) many["messages"].push_back({{"message", "m"}});
  EXPECT_LE(DescribeErrorBody(many.dump()).size(), kMaxApiMessageBytes + 40);
  // Not JSON: an excerpt, escaped the same way.
  EXPECT_EQ(DescribeErrorBody("<html>\x1b[2J"), "<html>\\u001b[2J");
  // Cut at a character boundary: a multi-byte character is never split.
  const std::string cut = DescribeErrorBody(std::string(199, 'x') + "\xc3\xa9" + "tail");
  EXPECT_EQ(cut.substr(0, 199), std::string(199, 'x'));
  EXPECT_EQ(cut.substr(199, 5), "... (");
}

}  // namespace
}  // namespace crtoken
