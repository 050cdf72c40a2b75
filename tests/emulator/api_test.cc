// The API's semantics, in process: an EmulatorServer on a free loopback port, driven over HTTP
// with the test client.
#include "emulator/api.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "emulator/clock.h"
#include "tests/support/http_client.h"

namespace crtoken::emulator {
namespace {

using nlohmann::json;
using test::HttpCall;
using test::HttpResult;

const test::Headers kAuth = {{"Authorization", "Bearer t"}};
constexpr char kUnknown[] = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

std::string In(int64_t seconds) { return FormatTime(std::time(nullptr) + seconds); }

class ApiTest : public ::testing::Test {
 protected:
  void Start(EmulatorOptions o = {}) {
    o.port = 0;
    if (o.registries.empty()) o.registries = {"acme-prod", "acme-dev", "other"};
    server_ = std::make_unique<EmulatorServer>(o);
    std::string error;
    ASSERT_TRUE(server_->Start(&error)) << error;
    json regs = Call("GET", "/registries").second;
    for (const auto& r : regs["items"]) ids_[r["properties"]["name"]] = r["id"];
  }
  void SetUp() override {}
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + "/containerregistries" + path;
  }
  // Returns {status, parsed body (null when empty)}.
  std::pair<int, json> Call(const std::string& method, const std::string& path,
                            const std::string& body = "", const test::Headers& headers = kAuth) {
    last_ = HttpCall(method, Url(path), headers, body);
    json j = last_.body.empty() ? json() : json::parse(last_.body, nullptr, false);
    return {last_.status, j};
  }
  std::pair<int, json> Call(const std::string& method, const std::string& path, const json& body) {
    return Call(method, path, body.dump());
  }
  std::string Tokens(const std::string& registry = "acme-prod") {
    return "/registries/" + ids_[registry] + "/tokens";
  }
  json CreateToken(const std::string& name, json extra = json::object()) {
    extra["name"] = name;
    auto [status, body] = Call("POST", Tokens(), json{{"properties", extra}});
    EXPECT_EQ(status, 201) << body;
    return body;
  }
  json State() {
    return json::parse(
        HttpCall("GET", "http://127.0.0.1:" + std::to_string(server_->port()) + "/_emulator/state")
            .body);
  }
  void ExpectError(const std::pair<int, json>& r, int status, const std::string& mentions) {
    EXPECT_EQ(r.first, status) << r.second;
    ASSERT_TRUE(r.second.is_object()) << last_.body;
    EXPECT_EQ(r.second["httpStatus"], status);
    ASSERT_TRUE(r.second["messages"].is_array());
    ASSERT_FALSE(r.second["messages"].empty());
    EXPECT_TRUE(r.second["messages"][0]["errorCode"].is_string());
    EXPECT_NE(r.second["messages"][0]["message"].get<std::string>().find(mentions),
              std::string::npos)
        << r.second["messages"][0]["message"] << " should mention " << mentions;
  }

  std::unique_ptr<EmulatorServer> server_;
  std::map<std::string, std::string> ids_;
  HttpResult last_;
};

TEST_F(ApiTest, PasswordOnlyInTheCreateResponse) {
  Start();
  json created = CreateToken("ci-push");
  std::string id = created["id"];
  std::string password = created["properties"]["credentials"]["password"];
  EXPECT_GE(password.size(), 20u);
  EXPECT_EQ(created["properties"]["credentials"]["username"], "ci-push");
  EXPECT_EQ(last_.Header("Location"), Url(Tokens() + "/" + id));

  EXPECT_EQ(Call("GET", Tokens() + "/" + id).second["properties"]["credentials"]["password"], "");
  EXPECT_EQ(Call("GET", Tokens()).second["items"][0]["properties"]["credentials"]["password"], "");
  EXPECT_EQ(Call("PATCH", Tokens() + "/" + id, json{{"status", "disabled"}})
                .second["properties"]["credentials"]["password"],
            "");
  EXPECT_EQ(State()["registries"][0]["tokens"][0]["password"], password);
}

TEST_F(ApiTest, TokenEnvelopeDefaultsAndEcho) {
  Start();
  json scopes = json::array({{{"name", "b"}, {"type", "backup"}, {"actions", {"push", "pull"}}},
                             {{"name", "a/*"}, {"type", "repo"}, {"actions", json::array()}}});
  json t = CreateToken("Mixed-Case1",
                       {{"scopes", scopes}, {"expiryDate", "2031-06-30T02:00:00.123+02:00"}});
  EXPECT_EQ(t["type"], "token");
  EXPECT_EQ(t["href"], "");
  EXPECT_EQ(t["properties"]["status"], "enabled");
  EXPECT_EQ(t["properties"]["scopes"], scopes);
  EXPECT_EQ(t["properties"]["expiryDate"], "2031-06-30T00:00:00Z");
  const json& m = t["metadata"];
  EXPECT_EQ(m["state"], "enabled");
  EXPECT_EQ(m["createdBy"], "api-token");
  EXPECT_TRUE(m["createdByUserId"].is_string());
  EXPECT_TRUE(m["lastModifiedDate"].is_null());
  EXPECT_FALSE(m.contains("lastModifiedBy"));  // spec-valid default: omitted, not null
  EXPECT_EQ(m["createdDate"].get<std::string>().size(), 20u);
  EXPECT_EQ(m["createdDate"].get<std::string>().back(), 'Z');
}

TEST_F(ApiTest, ScopeStringsRoundTripByteExactly) {
  Start();
  json scopes = json::array({{{"name", "quote\"back\\slash\ttab \u00e4\u4e2d"},
                              {"type", "<x>"},
                              {"actions", {"\u0001"}}}});
  std::string id = CreateToken("tricky", {{"scopes", scopes}})["id"];
  EXPECT_EQ(Call("GET", Tokens() + "/" + id).second["properties"]["scopes"], scopes);
  EXPECT_EQ(Call("GET", Tokens()).second["items"][0]["properties"]["scopes"], scopes);
}

TEST_F(ApiTest, ObservedNullsFlagWritesNullLastModifiedFields) {
  EmulatorOptions o;
  o.observed_nulls = true;
  Start(o);
  json t = CreateToken("ci-push");
  EXPECT_TRUE(t["metadata"].contains("lastModifiedBy"));
  EXPECT_TRUE(t["metadata"]["lastModifiedBy"].is_null());
  EXPECT_TRUE(t["metadata"]["lastModifiedByUserId"].is_null());
}

TEST_F(ApiTest, NamesAreUniquePerRegistry) {
  Start();
  CreateToken("ci-push");
  ExpectError(Call("POST", Tokens(), json{{"properties", {{"name", "ci-push"}}}}), 409, "ci-push");
  ExpectError(Call("PUT", Tokens() + "/" + kUnknown, json{{"properties", {{"name", "ci-push"}}}}),
              409, "ci-push");
  // The same name in another registry is fine; names are case-sensitive.
  EXPECT_EQ(Call("POST", Tokens("acme-dev"), json{{"properties", {{"name", "ci-push"}}}}).first,
            201);
  EXPECT_EQ(Call("POST", Tokens(), json{{"properties", {{"name", "CI-push"}}}}).first, 201);
}

TEST_F(ApiTest, PutCreatesWithTheCallerIdAndReplacesByDefaultWith201) {
  Start();
  const std::string id = "C0FFEE00-1234-4ABC-8DEF-0123456789AB";
  auto [status, created] =
      Call("PUT", Tokens() + "/" + id,
           json{{"properties", {{"name", "puller"}, {"expiryDate", In(86400)}}}});
  EXPECT_EQ(status, 201);
  EXPECT_EQ(created["id"], "c0ffee00-1234-4abc-8def-0123456789ab");
  std::string password = created["properties"]["credentials"]["password"];
  EXPECT_FALSE(password.empty());
  EXPECT_FALSE(last_.Header("Location").empty());

  auto [status2, replaced] =
      Call("PUT", Tokens() + "/" + id, json{{"properties", {{"name", "puller"}}}});
  EXPECT_EQ(status2, 201);
  EXPECT_EQ(replaced["properties"]["credentials"]["password"], "");
  EXPECT_TRUE(replaced["properties"]["expiryDate"].is_null());  // replaced whole
  EXPECT_TRUE(replaced["metadata"]["lastModifiedDate"].is_string());
  EXPECT_EQ(State()["registries"][0]["tokens"][0]["password"], password);

  ExpectError(Call("PUT", Tokens() + "/" + id, json{{"properties", {{"name", "other-name"}}}}), 400,
              "name");
}

TEST_F(ApiTest, PutReplaceFlags) {
  EmulatorOptions o;
  o.put_replace_status = 200;
  o.policy.put_replace_regenerates = true;
  o.policy.rename_is_conflict = true;
  Start(o);
  std::string path = Tokens() + "/" + kUnknown;
  std::string first = Call("PUT", path, json{{"properties", {{"name", "puller"}}}})
                          .second["properties"]["credentials"]["password"];
  auto [status, replaced] = Call("PUT", path, json{{"properties", {{"name", "puller"}}}});
  EXPECT_EQ(status, 200);
  std::string second = replaced["properties"]["credentials"]["password"];
  EXPECT_FALSE(second.empty());
  EXPECT_NE(first, second);
  EXPECT_EQ(State()["registries"][0]["tokens"][0]["password"], second);
  ExpectError(Call("PUT", path, json{{"properties", {{"name", "renamed"}}}}), 409, "name");
}

TEST_F(ApiTest, PatchKeepsAbsentFieldsClearsNullExpiryAndReplacesScopes) {
  Start();
  json scopes = json::array({{{"name", "a"}, {"type", "repository"}, {"actions", {"pull"}}},
                             {{"name", "b"}, {"type", "repository"}, {"actions", {"push"}}}});
  std::string expiry = In(3600 * 24);
  std::string id = CreateToken("ci-push", {{"scopes", scopes}, {"expiryDate", expiry}})["id"];
  std::string path = Tokens() + "/" + id;

  json t = Call("PATCH", path, json{{"status", "disabled"}}).second;
  EXPECT_EQ(t["properties"]["status"], "disabled");
  EXPECT_EQ(t["metadata"]["state"], "disabled");
  EXPECT_EQ(t["properties"]["scopes"], scopes);
  EXPECT_EQ(t["properties"]["expiryDate"], expiry);
  EXPECT_EQ(t["metadata"]["lastModifiedBy"], "api-token");

  json one = json::array({scopes[1]});
  t = Call("PATCH", path, json{{"scopes", one}, {"expiryDate", nullptr}}).second;
  EXPECT_EQ(t["properties"]["scopes"], one);
  EXPECT_TRUE(t["properties"]["expiryDate"].is_null());
  EXPECT_EQ(t["properties"]["status"], "disabled");

  t = Call("PATCH", path, json::object()).second;  // empty patch: nothing changes
  EXPECT_EQ(t["properties"]["scopes"], one);
  EXPECT_EQ(Call("GET", path).second["properties"]["scopes"], one);
}

TEST_F(ApiTest, TokenPagingWithOffsetAndLimit) {
  Start();
  for (int i = 0; i < 7; ++i) CreateToken("tok-" + std::to_string(i));
  json page = Call("GET", Tokens() + "?offset=2&limit=3").second;
  EXPECT_EQ(page["count"], 3);
  EXPECT_EQ(page["offset"], 2);
  EXPECT_EQ(page["limit"], 3);
  EXPECT_EQ(page["total"], 7);
  EXPECT_EQ(page["items"][0]["properties"]["name"], "tok-2");
  EXPECT_EQ(page["id"], "tokens");
  EXPECT_EQ(page["type"], "collection");
  EXPECT_EQ(page["_links"]["self"], "/containerregistries" + Tokens() + "?offset=2&limit=3");
  EXPECT_EQ(page["_links"]["next"], "/containerregistries" + Tokens() + "?offset=5&limit=3");
  EXPECT_EQ(page["_links"]["previous"], "/containerregistries" + Tokens() + "?offset=0&limit=3");
  page = Call("GET", Tokens() + "?offset=6&limit=3").second;
  EXPECT_EQ(page["count"], 1);
  EXPECT_EQ(page["_links"]["next"], "");
  page = Call("GET", Tokens() + "?offset=70").second;
  EXPECT_EQ(page["count"], 0);
  EXPECT_EQ(page["total"], 7);
  EXPECT_EQ(Call("GET", Tokens() + "?limit=100000").second["limit"], 1000);  // clamped
  ExpectError(Call("GET", Tokens() + "?offset=x"), 400, "offset");
  ExpectError(Call("GET", Tokens() + "?offset=-1"), 400, "offset");
  ExpectError(Call("GET", Tokens() + "?limit=0"), 400, "limit");
  ExpectError(Call("GET", Tokens() + "?limit=1.5"), 400, "limit");
}

TEST_F(ApiTest, LimitOverMaxRejectFlag) {
  EmulatorOptions o;
  o.max_limit = 50;
  o.reject_over_max = true;
  Start(o);
  EXPECT_EQ(Call("GET", Tokens() + "?limit=50").first, 200);
  ExpectError(Call("GET", Tokens() + "?limit=51"), 400, "at most 50");
  ExpectError(Call("GET", "/registries?limit=51"), 400, "at most 50");
}

TEST_F(ApiTest, RegistryListFilterAndCursor) {
  Start();
  json all = Call("GET", "/registries").second;
  EXPECT_EQ(all["id"], "registries");
  EXPECT_EQ(all["pagination"]["token"], "");
  EXPECT_EQ(all["items"].size(), 3u);
  json acme = Call("GET", "/registries?filter.name=ACME").second;
  ASSERT_EQ(acme["items"].size(), 2u);
  EXPECT_EQ(Call("GET", "/registries?filter.name=acme-prod").second["items"].size(), 1u);

  std::vector<std::string> names;
  std::string token;
  int pages = 0;
  do {
    json page =
        Call("GET", "/registries?limit=1" + (token.empty() ? "" : "&pagination.token=" + token))
            .second;
    ASSERT_EQ(page["pagination"]["limit"], 1);
    for (const auto& r : page["items"]) names.push_back(r["properties"]["name"]);
    token = page["pagination"]["token"];
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(names, (std::vector<std::string>{"acme-prod", "acme-dev", "other"}));
  EXPECT_EQ(pages, 3);
  ExpectError(Call("GET", "/registries?pagination.token=%%%"), 400, "pagination.token");
  ExpectError(Call("GET", "/registries?pagination.token=eyJ4IjoxfQ"), 400, "pagination.token");
}

TEST_F(ApiTest, RegistryLastTokenAbsentFlag) {
  EmulatorOptions o;
  o.omit_last_page_token = true;
  Start(o);
  json first = Call("GET", "/registries?limit=2").second;
  ASSERT_TRUE(first["pagination"].contains("token"));
  json last = Call("GET", "/registries?limit=2&pagination.token=" +
                              first["pagination"]["token"].get<std::string>())
                  .second;
  EXPECT_EQ(last["items"].size(), 1u);
  EXPECT_FALSE(last["pagination"].contains("token"));
  EXPECT_EQ(last["pagination"]["limit"], 2);
}

TEST_F(ApiTest, RegistryFilterExactFlag) {
  EmulatorOptions o;
  o.policy.registry_filter_exact = true;
  Start(o);
  EXPECT_EQ(Call("GET", "/registries?filter.name=acme").second["items"].size(), 0u);
  EXPECT_EQ(Call("GET", "/registries?filter.name=acme-dev").second["items"].size(), 1u);
}

TEST_F(ApiTest, RegistryLifecycleFollowsTheClock) {
  EmulatorOptions o;
  o.policy.provision_seconds = 60;
  Start(o);
  auto [status, reg] = Call("POST", "/registries",
                            json{{"properties", {{"name", "fresh"}, {"location", "de/txl"}}}});
  ASSERT_EQ(status, 201) << reg;
  EXPECT_EQ(last_.Header("Location"), Url("/registries/" + reg["id"].get<std::string>()));
  EXPECT_EQ(reg["type"], "registry");
  EXPECT_EQ(reg["metadata"]["state"], "New");
  EXPECT_EQ(reg["properties"]["hostname"], "");
  std::string path = "/registries/" + reg["id"].get<std::string>();
  // Tokens can be created while the registry is still New.
  EXPECT_EQ(Call("POST", path + "/tokens", json{{"properties", {{"name", "early"}}}}).first, 201);
  server_->emulator().clock().Advance(30);
  EXPECT_EQ(Call("GET", path).second["metadata"]["state"], "WaitingForStorage");
  server_->emulator().clock().Advance(30);
  json running = Call("GET", path).second;
  EXPECT_EQ(running["metadata"]["state"], "Running");
  EXPECT_EQ(running["properties"]["hostname"], "fresh.cr.de-txl.ionos.com");
  ExpectError(Call("POST", "/registries",
                   json{{"properties", {{"name", "fresh"}, {"location", "de/fra"}}}}),
              400, "in use");
}

TEST_F(ApiTest, RegistryDeleteTakesItsTokens) {
  Start();
  std::string id = CreateToken("ci-push")["id"];
  EXPECT_EQ(Call("DELETE", "/registries/" + ids_["acme-prod"]).first, 204);
  ExpectError(Call("GET", Tokens() + "/" + id), 404, "registry");
  ExpectError(Call("GET", "/registries/" + ids_["acme-prod"]), 404, "registry");
  EXPECT_EQ(State()["registries"].size(), 2u);
}

TEST_F(ApiTest, NotFoundOnEveryRoute) {
  Start();
  std::string unknown_reg = std::string("/registries/") + kUnknown;
  std::string token_path = Tokens() + "/" + kUnknown;
  json body{{"properties", {{"name", "ab"}}}};
  ExpectError(Call("GET", unknown_reg), 404, "registry");
  ExpectError(Call("PATCH", unknown_reg, json::object()), 404, "registry");
  ExpectError(Call("DELETE", unknown_reg), 404, "registry");
  ExpectError(Call("GET", unknown_reg + "/tokens"), 404, "registry");
  ExpectError(Call("POST", unknown_reg + "/tokens", body), 404, "registry");
  ExpectError(Call("GET", unknown_reg + "/tokens/" + kUnknown), 404, "registry");
  ExpectError(Call("PUT", unknown_reg + "/tokens/" + kUnknown, body), 404, "registry");
  ExpectError(Call("PATCH", unknown_reg + "/tokens/" + kUnknown, json::object()), 404, "registry");
  ExpectError(Call("DELETE", unknown_reg + "/tokens/" + kUnknown), 404, "registry");
  ExpectError(Call("GET", token_path), 404, "token");
  ExpectError(Call("PATCH", token_path, json::object()), 404, "token");
  ExpectError(Call("DELETE", token_path), 404, "token");
  ExpectError(Call("GET", "/nothing-here"), 404, "no such resource");
  ExpectError(Call("GET", Tokens() + "/" + kUnknown + "/extra"), 404, "no such resource");
  EXPECT_EQ(Call("HEAD", "/names/free-name").first, 404);
  EXPECT_EQ(Call("HEAD", "/names/acme-prod").first, 200);
}

TEST_F(ApiTest, ValidationAnswers400NamingTheField) {
  Start();
  auto post = [&](const json& props) {
    return Call("POST", Tokens(), json{{"properties", props}});
  };
  ExpectError(Call("GET", "/registries/not-a-uuid"), 400, "registryId");
  ExpectError(Call("GET", Tokens() + "/3fa85f64-5717-4562-b3fc-2c963f66afaZ"), 400, "tokenId");
  ExpectError(Call("DELETE", "/registries/x/tokens/y"), 400, "registryId");
  for (const char* name : {"a", "1abc", "-abc", "abc-", "a_b", "a.b", "ä-b"}) {
    ExpectError(post({{"name", name}}), 400, "properties.name");
  }
  ExpectError(post({{"name", std::string(64, 'a')}}), 400, "properties.name");
  EXPECT_EQ(post({{"name", std::string(63, 'a')}}).first, 201);
  EXPECT_EQ(post({{"name", "ab"}}).first, 201);
  ExpectError(post({{"name", 42}}), 400, "properties.name");
  ExpectError(post(json::object()), 400, "properties.name: required");
  ExpectError(post({{"name", "ok-name"}, {"status", "Enabled"}}), 400, "properties.status");
  ExpectError(post({{"name", "ok-name"}, {"expiryDate", "2030-13-01T00:00:00Z"}}), 400,
              "properties.expiryDate");
  ExpectError(post({{"name", "ok-name"}, {"expiryDate", "2030-02-29T00:00:00Z"}}), 400,
              "properties.expiryDate");
  ExpectError(post({{"name", "ok-name"}, {"expiryDate", "2030-01-01 00:00:00Z"}}), 400,
              "properties.expiryDate");
  ExpectError(post({{"name", "ok-name"}, {"expiryDate", "2030-01-01T00:00:00"}}), 400,
              "properties.expiryDate");
  ExpectError(post({{"name", "ok-name"}, {"expiryDate", 1893456000}}), 400,
              "properties.expiryDate");
  ExpectError(post({{"name", "ok-name"}, {"expiryDate", "2001-01-01T00:00:00Z"}}), 400, "future");
  ExpectError(post({{"name", "ok-name"}, {"scopes", "all"}}), 400, "properties.scopes");
  ExpectError(post({{"name", "ok-name"}, {"scopes", {{{"name", "a"}, {"type", "repository"}}}}}),
              400, "properties.scopes[0].actions: required");
  ExpectError(
      post({{"name", "ok-name"},
            {"scopes", {{{"name", "a"}, {"type", "repository"}, {"actions", {"pull", 1}}}}}}),
      400, "properties.scopes[0].actions[1]");
  ExpectError(Call("POST", Tokens(), json{{"name", "unwrapped"}}), 400, "properties: required");
  ExpectError(Call("POST", Tokens(), std::string("{\"properties\":")), 400, "invalid JSON");
  ExpectError(Call("POST", Tokens(), std::string("")), 400, "request body");
  ExpectError(Call("POST", Tokens(), std::string("[1]")), 400, "must be an object");
  std::string id = CreateToken("patched")["id"];
  ExpectError(Call("PATCH", Tokens() + "/" + id, json{{"status", "off"}}), 400, "status");
  ExpectError(Call("PATCH", Tokens() + "/" + id, json{{"expiryDate", "soon"}}), 400, "expiryDate");
  ExpectError(Call("PATCH", Tokens() + "/" + id, json{{"scopes", {1}}}), 400, "scopes[0]");
  ExpectError(Call("POST", "/registries",
                   json{{"properties", {{"name", "Upper"}, {"location", "de/fra"}}}}),
              400, "properties.name");
  ExpectError(Call("POST", "/registries", json{{"properties", {{"name", "no-loc"}}}}), 400,
              "properties.location");
  ExpectError(
      Call("POST", "/registries",
           json{{"properties",
                 {{"name", "bad-time"},
                  {"location", "de/fra"},
                  {"garbageCollectionSchedule", {{"days", {"Monday"}}, {"time", "25:00:00"}}}}}}),
      400, "garbageCollectionSchedule.time");
  // Nothing invalid was stored.
  EXPECT_EQ(State()["registries"][0]["tokens"].size(), 3u);
}

TEST_F(ApiTest, NonUtf8InThePathIsA400NotACrash) {
  Start();
  ExpectError(Call("GET", "/registries/%FF%FE"), 400, "registryId");
  EXPECT_EQ(Call("GET", "/registries", "", {{"Authorization", "Bearer \xff"}}).first, 200);
  EXPECT_EQ(Call("GET", "/registries").first, 200);  // still serving
}

TEST_F(ApiTest, UnknownFieldsAreIgnoredAsTheSpecAllows) {
  Start();
  EXPECT_EQ(Call("POST", Tokens(),
                 json{{"properties", {{"name", "ok-name"}, {"colour", "red"}}}, {"extra", 1}})
                .first,
            201);
}

TEST_F(ApiTest, Authentication) {
  EmulatorOptions o;
  o.user = "alice";
  o.password = "s3cret";
  Start(o);  // Start() lists registries with Bearer t: must fail, so list again below
  EXPECT_TRUE(ids_.empty());
  ExpectError(Call("GET", "/registries", "", {}), 401, "credentials");
  EXPECT_EQ(last_.Header("WWW-Authenticate"), "Basic realm=\"containerregistries\"");
  ExpectError(Call("GET", "/registries", "", {{"Authorization", "Bearer t"}}), 401, "credentials");
  ExpectError(
      Call("GET", "/registries", "", {{"Authorization", test::BasicAuth("alice", "wrong")}}), 401,
      "credentials");
  EXPECT_EQ(
      Call("GET", "/registries", "", {{"Authorization", test::BasicAuth("alice", "s3cret")}}).first,
      200);
  EXPECT_EQ(Call("GET", "/registries", "",
                 {{"Authorization", "basic " + test::BasicAuth("alice", "s3cret").substr(6)}})
                .first,
            200);
}

TEST_F(ApiTest, TokensExpireOnTheEmulatorsClock) {
  EmulatorOptions o;
  o.min_expiry_seconds = 3600;
  Start(o);
  ExpectError(
      Call("POST", Tokens(), json{{"properties", {{"name", "soon"}, {"expiryDate", In(600)}}}}),
      400, "3600 seconds");
  std::string id = CreateToken("short-lived", {{"expiryDate", In(7200)}})["id"].get<std::string>();
  CreateToken("forever");
  server_->emulator().clock().Advance(7000);
  EXPECT_EQ(Call("GET", Tokens() + "/" + id).first, 200);
  server_->emulator().clock().Advance(300);
  ExpectError(Call("GET", Tokens() + "/" + id), 404, "token");
  json list = Call("GET", Tokens()).second;
  EXPECT_EQ(list["total"], 1);
  EXPECT_EQ(list["items"][0]["properties"]["name"], "forever");
  // A PATCH that moves the expiry keeps a token alive past its old date.
  std::string id2 = CreateToken("moved", {{"expiryDate", In(7300 + 7200)}})["id"];
  EXPECT_EQ(Call("PATCH", Tokens() + "/" + id2, json{{"expiryDate", nullptr}}).first, 200);
  server_->emulator().clock().Advance(86400);
  EXPECT_EQ(Call("GET", Tokens() + "/" + id2).first, 200);
}

TEST_F(ApiTest, LocationsAndRegistryPutPatch) {
  Start();
  json loc = Call("GET", "/locations").second;
  EXPECT_EQ(loc["items"][0]["id"], "de/fra");
  std::string path = "/registries/" + ids_["acme-prod"];
  auto [status, put] =
      Call("PUT", path, json{{"properties", {{"name", "acme-prod"}, {"location", "de/fra"}}}});
  EXPECT_EQ(status, 201);
  EXPECT_EQ(put["metadata"]["state"], "Running");
  ExpectError(
      Call("PUT", path, json{{"properties", {{"name", "acme-prod"}, {"location", "de/txl"}}}}), 400,
      "location");
  json sched{{"days", {"Monday"}}, {"time", "01:00:00+00:00"}};
  json patched = Call("PATCH", path, json{{"garbageCollectionSchedule", sched}}).second;
  EXPECT_EQ(patched["properties"]["garbageCollectionSchedule"], sched);
  EXPECT_EQ(Call("DELETE", path + "/repositories/ubuntu").first, 204);
}

}  // namespace
}  // namespace crtoken::emulator
