// The emulator's registry login check, GET /v2/ with HTTP Basic auth, in process: 200 only for a
// live token's name and its password, while it is enabled and before its expiry on the
// emulator's clock; 401 otherwise; the registry chosen by hostname (Host header or ?host=).
#include <gtest/gtest.h>

#include <ctime>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "emulator/api.h"
#include "emulator/clock.h"
#include "tests/support/http_client.h"

namespace crtoken::emulator {
namespace {

using nlohmann::json;
using test::BasicAuth;
using test::HttpCall;
using test::HttpResult;

constexpr char kHost[] = "acme.cr.de-fra.ionos.com";

class LoginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EmulatorOptions o;
    o.registries = {"acme", "other"};
    server_ = std::make_unique<EmulatorServer>(o);
    std::string error;
    ASSERT_TRUE(server_->Start(&error)) << error;
    json regs = json::parse(Api("GET", "/registries").body);
    for (const auto& r : regs["items"]) ids_[r["properties"]["name"]] = r["id"];
  }
  std::string Root() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }
  HttpResult Api(const std::string& method, const std::string& path, const std::string& body = "") {
    return HttpCall(method, Root() + "/containerregistries" + path,
                    {{"Authorization", "Bearer t"}, {"Content-Type", "application/json"}}, body);
  }
  // Creates `name` in acme; returns {id, password}.
  std::pair<std::string, std::string> Create(const std::string& name, json extra = json::object()) {
    extra["name"] = name;
    HttpResult r =
        Api("POST", "/registries/" + ids_["acme"] + "/tokens", json{{"properties", extra}}.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    json j = json::parse(r.body);
    return {j["id"], j["properties"]["credentials"]["password"]};
  }
  int Login(const std::string& user, const std::string& password, const std::string& host = kHost) {
    return HttpCall("GET", Root() + "/v2/?host=" + host,
                    {{"Authorization", BasicAuth(user, password)}})
        .status;
  }

  std::unique_ptr<EmulatorServer> server_;
  std::map<std::string, std::string> ids_;
};

TEST_F(LoginTest, AcceptsOnlyALiveTokensPassword) {
  auto [id, password] = Create("ci");
  HttpResult ok = HttpCall("GET", Root() + "/v2/?host=" + std::string(kHost),
                           {{"Authorization", BasicAuth("ci", password)}});
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.Header("Docker-Distribution-API-Version"), "registry/2.0");

  HttpResult bad = HttpCall("GET", Root() + "/v2/?host=" + std::string(kHost),
                            {{"Authorization", BasicAuth("ci", password + "x")}});
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(bad.Header("WWW-Authenticate"), "Basic realm=\"" + std::string(kHost) + "\"");
  EXPECT_EQ(HttpCall("GET", Root() + "/v2/?host=" + std::string(kHost)).status, 401);
  EXPECT_EQ(Login("nobody", password), 401);
  // Tokens are per registry: the other registry does not know it.
  EXPECT_EQ(Login("ci", password, "other.cr.de-fra.ionos.com"), 401);
  EXPECT_EQ(Login("ci", password, "unknown.example"), 404);

  ASSERT_EQ(Api("DELETE", "/registries/" + ids_["acme"] + "/tokens/" + id).status, 204);
  EXPECT_EQ(Login("ci", password), 401) << "a deleted token no longer logs in";
}

TEST_F(LoginTest, TheHostHeaderChoosesTheRegistry) {
  auto [id, password] = Create("ci");
  // The test client sends Host: 127.0.0.1:PORT; no registry has that hostname.
  EXPECT_EQ(HttpCall("GET", Root() + "/v2/", {{"Authorization", BasicAuth("ci", password)}}).status,
            404);
}

TEST_F(LoginTest, ADisabledTokenIsRefused) {
  auto [id, password] = Create("ci");
  ASSERT_EQ(Api("PATCH", "/registries/" + ids_["acme"] + "/tokens/" + id,
                json{{"status", "disabled"}}.dump())
                .status,
            200);
  EXPECT_EQ(Login("ci", password), 401);
}

TEST_F(LoginTest, ExpiryFollowsTheEmulatorClock) {
  auto [id, password] = Create("ci", json{{"expiryDate", FormatTime(std::time(nullptr) + 3600)}});
  EXPECT_EQ(Login("ci", password), 200);
  server_->emulator().clock().Advance(3599);
  EXPECT_EQ(Login("ci", password), 200);
  server_->emulator().clock().Advance(2);
  EXPECT_EQ(Login("ci", password), 401);
}

}  // namespace
}  // namespace crtoken::emulator
