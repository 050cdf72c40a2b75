// Contract: every request HttpRegistryApi makes goes through Stoplight Prism's validating proxy
// (`prism proxy docs/api/container-registry.openapi.yaml <emulator> --errors`). Prism refuses a
// request that violates the spec (422) and logs violations; the scenario must succeed and Prism's
// log must hold no violation.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "daemon/registry/http_registry_api.h"
#include "reconciler/time_util.h"
#include "reconciler/token_id.h"
#include "tests/support/emulator_process.h"
#include "tests/support/fakes.h"
#include "tests/support/temp_dir.h"

namespace crtoken {
namespace {

using test::EmulatorProcess;
using test::FreePort;
using test::ReadFile;
using test::TempDir;

const std::string kContractDir = std::string(CRTOKEN_SOURCE_DIR) + "/tests/contract";
// The API contract: the repository's own OpenAPI document.
const std::string kContractSpec =
    std::string(CRTOKEN_SOURCE_DIR) + "/docs/api/container-registry.openapi.yaml";

class Prism {
 public:
  Prism(const std::string& spec, const std::string& upstream, const std::filesystem::path& log)
      : log_(log) {
    port_ = FreePort();
    const std::string prism = kContractDir + "/node_modules/.bin/prism";
    pid_ = ::fork();
    if (pid_ == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      const std::string port = std::to_string(port_);
      ::execl(prism.c_str(), prism.c_str(), "proxy", spec.c_str(), upstream.c_str(), "-p",
              port.c_str(), "-h", "127.0.0.1", "--errors", static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~Prism() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  bool WaitReady() {
    for (int i = 0; i < 600; ++i) {
      if (ReadFile(log_).find("Prism is listening") != std::string::npos) return true;
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  std::string base_url() const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/containerregistries";
  }
  std::string Log() const { return ReadFile(log_); }

 private:
  std::filesystem::path log_;
  int port_ = 0;
  pid_t pid_ = -1;
};

TEST(ContractTest, EveryClientRequestPassesPrism) {
  if (!std::filesystem::exists(kContractDir + "/node_modules/.bin/prism")) {
    GTEST_SKIP() << "prism is not installed: run `npm ci` in tests/contract (make deps does)";
  }
  ASSERT_TRUE(std::filesystem::exists(kContractSpec)) << kContractSpec;
  TempDir dir("crtoken-apiclient-contract");

  // Pages of one item: every list request the client makes past its first page passes Prism too
  // (the registry cursor, the token offsets).
  EmulatorProcess emu(
      {"--registry", "acme", "--registry", "acme-prod", "--token", "t", "--max-limit", "1"});
  // The contract spec carries the /containerregistries prefix in its paths: upstream is the root.
  Prism prism(kContractSpec, emu.root_url(), dir / "prism.log");
  ASSERT_TRUE(prism.WaitReady()) << prism.Log();

  HttpRegistryApiConfig c;
  c.base_url = prism.base_url();
  c.credentials = Credentials::Bearer("t");
  c.retry.max_attempts = 1;  // a refused request must show, not be retried away
  auto created = HttpRegistryApi::Create(c);
  ASSERT_TRUE(created.ok());
  HttpRegistryApi& api = *created.value();

  auto all = api.ListRegistries();
  ASSERT_TRUE(all.ok()) << all.error().ToString();
  EXPECT_EQ(all.value().size(), 2u);
  auto reg = test::RegistryNamed(api, "acme");
  ASSERT_TRUE(reg.ok()) << reg.error().ToString();
  ASSERT_TRUE(api.GetRegistry(reg.value().id).ok());
  const std::string rid = reg.value().id;

  TokenFields f;
  f.name = "ci-push";
  f.expiry = ParseRfc3339("2031-06-30T00:00:00Z");
  f.scopes = {{"app/*", "repository", {"pull", "push"}}, {"*", "registry", {"pull"}}};
  const std::string id = OwnedTokenId("crtoken", rid, f.name, 1);
  auto token = api.CreateToken(rid, id, f);
  ASSERT_TRUE(token.ok()) << token.error().ToString();
  TokenFields bare;  // no expiry, no scopes, disabled
  bare.name = "bare";
  bare.status = TokenStatus::kDisabled;
  ASSERT_TRUE(api.CreateToken(rid, OwnedTokenId("crtoken", rid, "bare", 1), bare).ok());

  ASSERT_TRUE(api.GetToken(rid, id).ok());
  auto list = api.ListTokens(rid);
  ASSERT_TRUE(list.ok()) << list.error().ToString();
  EXPECT_EQ(list.value().size(), 2u);

  TokenPatch p1;
  p1.status = TokenStatus::kDisabled;
  p1.scopes = std::vector<Scope>{{"app/*", "repository", {"pull"}}};
  auto patched = api.PatchToken(rid, id, p1);
  ASSERT_TRUE(patched.ok()) << patched.error().ToString();
  TokenPatch p2;
  p2.expiry = std::optional<Instant>();
  ASSERT_TRUE(api.PatchToken(rid, id, p2).ok());
  TokenPatch p3;
  p3.expiry = ParseRfc3339("2032-01-01T00:00:00Z");
  ASSERT_TRUE(api.PatchToken(rid, id, p3).ok());

  // Error paths, still valid requests.
  auto conflict = api.CreateToken(rid, OwnedTokenId("crtoken", rid, f.name, 2), f);
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().kind, ErrorKind::kConflict) << conflict.error().ToString();
  auto missing = api.GetToken(rid, "00000000-0000-4000-8000-000000000000");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::kNotFound) << missing.error().ToString();

  ASSERT_TRUE(api.DeleteToken(rid, id).ok());
  ASSERT_TRUE(api.DeleteToken(rid, id).ok());  // 404 on the second

  auto violations = [&prism] {
    std::vector<std::string> bad;
    std::istringstream lines(prism.Log());
    for (std::string line; std::getline(lines, line);) {
      static const std::regex kBad("violation|terminated|\xE2\x9C\x96", std::regex::icase);
      if (std::regex_search(line, kBad)) bad.push_back(line);
    }
    return bad;
  };
  // Last, a request that breaks the spec: Prism must refuse it (422) and log it. Its log line
  // also shows the log is complete up to here (Prism writes it asynchronously, in order).
  const std::string bare_path =
      "/registries/" + rid + "/tokens/" + OwnedTokenId("crtoken", rid, "bare", 1);
  const std::string invalid = R"({"status":"sideways"})";
  auto refused = api.Call(HttpMethod::kPatch, bare_path, &invalid);
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused.value().status, 422);
  for (int i = 0; i < 200 && violations().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const std::vector<std::string> bad = violations();
  ASSERT_FALSE(bad.empty()) << "Prism did not log the deliberately invalid request:\n"
                            << prism.Log();
  // Every violation line belongs to that one request; the client's own requests have none.
  for (const std::string& line : bad) {
    EXPECT_NE(line.find("patch /containerregistries" + bare_path), std::string::npos)
        << "violation from the client's requests: " << line;
  }

  // Every call above really went through Prism.
  EXPECT_GE(emu.Requests().size(), 12u);
}

}  // namespace
}  // namespace crtoken
