// The real crtoken-emulator binary through crtoken_test_support: startup, flags, admin endpoints.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/emulator_process.h"
#include "tests/support/temp_dir.h"

namespace crtoken::test_support {
namespace {

using nlohmann::json;

const Headers kAuth = {{"Authorization", "Bearer t"}};

TEST(EmulatorProcessTest, SeedsRunningRegistriesAndServesTokens) {
  EmulatorProcess emu({"--registry", "acme-prod", "--registry", "acme-dev"});
  json state = emu.StateJson();
  ASSERT_EQ(state["registries"].size(), 2u);
  EXPECT_EQ(state["registries"][0]["hostname"], "acme-prod.cr.de-fra.ionos.com");
  EXPECT_EQ(state["registries"][0]["state"], "Running");
  std::string rid = emu.RegistryId("acme-dev");

  HttpResult created = HttpCall("POST", emu.base_url() + "/registries/" + rid + "/tokens", kAuth,
                                R"({"properties":{"name":"ci-push"}})");
  ASSERT_EQ(created.status, 201) << created.body;
  json token = json::parse(created.body);
  std::string password = token["properties"]["credentials"]["password"];
  EXPECT_FALSE(password.empty());

  state = emu.StateJson();
  ASSERT_EQ(state["registries"][1]["tokens"].size(), 1u);
  EXPECT_EQ(state["registries"][1]["tokens"][0]["password"], password);
  EXPECT_EQ(state["registries"][1]["tokens"][0]["name"], "ci-push");

  std::vector<RequestEntry> log = emu.Requests();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].method, "POST");
  EXPECT_EQ(log[0].path, "/containerregistries/registries/" + rid + "/tokens");
  EXPECT_EQ(log[0].status, 201);
  emu.ClearRequests();
  EXPECT_TRUE(emu.Requests().empty());
}

TEST(EmulatorProcessTest, CredentialFlagsAreEnforced) {
  EmulatorProcess emu({"--registry", "acme", "--token", "tok", "--user", "u", "--password", "p"});
  std::string url = emu.base_url() + "/registries";
  EXPECT_EQ(HttpCall("GET", url, {{"Authorization", "Bearer tok"}}).status, 200);
  EXPECT_EQ(HttpCall("GET", url, {{"Authorization", BasicAuth("u", "p")}}).status, 200);
  EXPECT_EQ(HttpCall("GET", url, {{"Authorization", "Bearer other"}}).status, 401);
  EXPECT_EQ(HttpCall("GET", url, {{"Authorization", BasicAuth("u", "wrong")}}).status, 401);
  HttpResult none = HttpCall("GET", url);
  EXPECT_EQ(none.status, 401);
  json body = json::parse(none.body);
  EXPECT_EQ(body["httpStatus"], 401);
  EXPECT_TRUE(body["messages"][0]["errorCode"].is_string());
}

TEST(EmulatorProcessTest, AnyNonEmptyCredentialWithoutFlags) {
  EmulatorProcess emu;
  std::string url = emu.base_url() + "/registries";
  EXPECT_EQ(HttpCall("GET", url, {{"Authorization", "Bearer x"}}).status, 200);
  EXPECT_EQ(HttpCall("GET", url, {{"Authorization", BasicAuth("a", "b")}}).status, 200);
  EXPECT_EQ(HttpCall("GET", url, {{"Authorization", "Bearer "}}).status, 401);
  EXPECT_EQ(HttpCall("GET", url, {{"Authorization", "Digest abc"}}).status, 401);
}

TEST(EmulatorProcessTest, FaultStatusWithRetryAfterThenNormal) {
  EmulatorProcess emu({"--registry", "acme"});
  json rule = emu.AddFault({{"method", "GET"},
                            {"path", "/registries$"},
                            {"status", 429},
                            {"retryAfter", "2"},
                            {"times", 1}});
  EXPECT_EQ(rule["times"], 1);
  HttpResult first = HttpCall("GET", emu.base_url() + "/registries", kAuth);
  EXPECT_EQ(first.status, 429);
  EXPECT_EQ(first.Header("Retry-After"), "2");
  EXPECT_EQ(json::parse(first.body)["httpStatus"], 429);
  EXPECT_EQ(HttpCall("GET", emu.base_url() + "/registries", kAuth).status, 200);
  std::vector<RequestEntry> log = emu.Requests();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].status, 429);
  EXPECT_EQ(log[1].status, 200);
}

TEST(EmulatorProcessTest, ResetFaultDropsTheConnection) {
  EmulatorProcess emu({"--registry", "acme"});
  emu.AddFault({{"reset", true}, {"times", 1}});
  HttpResult r = HttpCall("GET", emu.base_url() + "/registries", kAuth);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.error, "connection reset");
  EXPECT_EQ(HttpCall("GET", emu.base_url() + "/registries", kAuth).status, 200);
  EXPECT_EQ(emu.Requests()[0].status, 0);
}

TEST(EmulatorProcessTest, ClockExpiresTokens) {
  EmulatorProcess emu({"--registry", "acme"});
  std::string rid = emu.RegistryId("acme");
  std::string now = emu.StateJson()["now"];
  // An expiry two hours from the emulator's now.
  HttpResult clock = HttpCall("GET", emu.root_url() + "/_emulator/clock");
  ASSERT_EQ(clock.status, 200);
  int64_t seconds = 2 * 3600;
  std::time_t t = std::time(nullptr) + seconds;
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  HttpResult created =
      HttpCall("POST", emu.base_url() + "/registries/" + rid + "/tokens", kAuth,
               json{{"properties", {{"name", "short-lived"}, {"expiryDate", buf}}}}.dump());
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(emu.StateJson()["registries"][0]["tokens"].size(), 1u);
  emu.AdvanceClock(seconds + 1);
  EXPECT_EQ(emu.StateJson()["registries"][0]["tokens"].size(), 0u);
  std::string id = json::parse(created.body)["id"];
  EXPECT_EQ(HttpCall("GET", emu.base_url() + "/registries/" + rid + "/tokens/" + id, kAuth).status,
            404);
}

TEST(EmulatorProcessTest, BadFlagsExitWithOneLine) {
  EXPECT_THROW(EmulatorProcess({"--put-replace-status", "204"}), std::runtime_error);
}

TEST(TempDirTest, RemovedAtScopeExit) {
  std::filesystem::path p;
  {
    TempDir dir;
    p = dir.path();
    EXPECT_TRUE(std::filesystem::is_directory(p));
  }
  EXPECT_FALSE(std::filesystem::exists(p));
}

}  // namespace
}  // namespace crtoken::test_support
