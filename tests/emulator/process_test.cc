// The real crtoken-emulator binary through crtoken_test_support: startup, flags, admin endpoints.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/support/emulator_process.h"
#include "tests/support/temp_dir.h"

namespace crtoken::test {
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

TEST(EmulatorBinaryTest, PortZeroPrintsTheChosenPortAndSigtermStopsIt) {
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    execl(EmulatorBinaryPath().c_str(), "crtoken-emulator", "--listen", "127.0.0.1:0", nullptr);
    _exit(127);
  }
  close(out[1]);
  std::string line;
  char c;
  while (read(out[0], &c, 1) == 1 && c != '\n') line += c;
  close(out[0]);
  // "crtoken-emulator: serving http://127.0.0.1:PORT/containerregistries (admin: /_emulator/)"
  size_t at = line.find("http://127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << line;
  int port = std::atoi(line.c_str() + at + 17);
  EXPECT_GT(port, 0);
  EXPECT_EQ(HttpCall("GET", "http://127.0.0.1:" + std::to_string(port) + "/_emulator/state").status,
            200);
  kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(EmulatorBinaryTest, RequestLoggingNeverShowsCredentialsOrPasswords) {
  TempDir dir;
  const std::string log_path = (dir / "stderr.log").string();
  const uint16_t port = FreePort();
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    freopen(log_path.c_str(), "w", stderr);
    freopen("/dev/null", "w", stdout);
    execl(EmulatorBinaryPath().c_str(), "crtoken-emulator", "--listen",
          ("127.0.0.1:" + std::to_string(port)).c_str(), "--registry", "acme", "--log-requests",
          "--user", "alice", "--password", "pa55-word-xyz", nullptr);
    _exit(127);
  }
  const std::string root = "http://127.0.0.1:" + std::to_string(port);
  for (int i = 0; i < 2000 && HttpCall("GET", root + "/_emulator/state").status != 200; ++i) {
    usleep(5000);
  }
  const std::string auth = BasicAuth("alice", "pa55-word-xyz");
  json state = json::parse(HttpCall("GET", root + "/_emulator/state").body);
  std::string tokens = root + "/containerregistries/registries/" +
                       state["registries"][0]["id"].get<std::string>() + "/tokens";
  HttpResult created =
      HttpCall("POST", tokens, {{"Authorization", auth}}, R"({"properties":{"name":"logged"}})");
  ASSERT_EQ(created.status, 201);
  std::string password = json::parse(created.body)["properties"]["credentials"]["password"];
  EXPECT_EQ(HttpCall("GET", tokens, {{"Authorization", "Bearer some-bearer-secret"}}).status, 401);
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  std::ifstream in(log_path);
  std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(log.find("POST /containerregistries/registries/"), std::string::npos) << log;
  EXPECT_NE(log.find("-> 201"), std::string::npos) << log;
  for (const std::string& secret :
       {password, std::string("pa55-word-xyz"), auth.substr(6), std::string("some-bearer-secret"),
        std::string("Authorization")}) {
    EXPECT_EQ(log.find(secret), std::string::npos) << secret;
  }
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
}  // namespace crtoken::test
