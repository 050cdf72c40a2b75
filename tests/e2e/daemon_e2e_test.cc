// `crtoken run` end to end: the real binary against crtoken-emulator, specs and secrets in a temp
// dir, metrics and health scraped over HTTP.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "tests/support/daemon_fixture.h"
#include "tests/support/daemon_process.h"
#include "tests/support/emulator_process.h"
#include "tests/support/http_client.h"
#include "tests/support/temp_dir.h"

namespace crtoken::test {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

// The bound for "a spec change reaches the emulator as the right request".
constexpr milliseconds kChangeDeadline(2000);

struct TokenDecl {
  std::string name;
  std::string registry;
  std::string status = "enabled";
  std::string actions = "[pull]";
  std::string file = "";  // default NAME-REGISTRY.json
};

std::string Yaml(const TokenDecl& t) {
  return "apiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\nmetadata:\n  name: " + t.name +
         "\nspec:\n  registry: " + t.registry + "\n  status: " + t.status +
         "\n  scopes:\n    - name: \"app/*\"\n      type: repository\n      actions: " + t.actions +
         "\n  secret:\n    file: " +
         (t.file.empty() ? t.name + "-" + t.registry + ".json" : t.file) + "\n";
}

class DaemonE2ETest : public DaemonFixture<> {
 protected:
  DaemonE2ETest() : DaemonFixture({"acme-prod", "acme-dev"}, "crtoken-e2e") {}

  void Start(std::vector<std::string> extra = {}, const fs::path& specs = {}) {
    std::vector<std::string> args = {"--resync",
                                     "10m",  // only the watcher (or a signal) may trigger a pass
                                     "--debounce", "50ms"};
    args.insert(args.end(), extra.begin(), extra.end());
    StartOn(specs, args);
  }

  int Get(int port, const std::string& path, std::string* body = nullptr) {
    return GetLocal(port, path, body);
  }
  std::string Metrics() {
    std::string body;
    Get(metrics_port_, "/metrics", &body);
    return body;
  }

  // The emulator's full state (kept in a member: a range-for over a temporary's member dangles).
  const nlohmann::json& State() {
    state_ = emu_->StateJson();
    return state_;
  }
  // The token as the emulator holds it, or null.
  nlohmann::json Token(const std::string& registry, const std::string& name) {
    return emu_->Token(name, registry);
  }
  std::string TokenPath(const std::string& registry, const std::string& name) {
    auto t = Token(registry, name);
    if (t.is_null()) return "";
    return "/containerregistries/registries/" + emu_->RegistryId(registry) + "/tokens/" +
           t["id"].get<std::string>();
  }
  // The password in the secret file, or "".
  std::string SecretPassword(const std::string& file, const std::string& registry) {
    const fs::path p = dir_ / "secrets" / file;
    if (!fs::exists(p)) return "";
    auto j = nlohmann::json::parse(ReadFile(p), nullptr, false);
    const std::string host = registry + ".cr.de-fra.ionos.com";
    if (j.is_discarded() || !j["auths"].contains(host)) return "";
    return j["auths"][host].value("password", "");
  }
  // Waits for a request matching (method, exact path) and returns how long it took.
  std::optional<milliseconds> WaitForRequest(const std::string& method, const std::string& path,
                                             std::chrono::steady_clock::time_point since,
                                             milliseconds deadline) {
    std::optional<milliseconds> took;
    WaitUntil(
        [&] {
          for (const RequestEntry& r : emu_->Requests()) {
            if (r.method == method && r.path == path) {
              took = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() -
                                                              since);
              return true;
            }
          }
          return false;
        },
        deadline);
    return took;
  }
  std::vector<RequestEntry> Writes() {
    std::vector<RequestEntry> out;
    for (const RequestEntry& r : emu_->Requests()) {
      if (r.method != "GET" && r.method != "HEAD") out.push_back(r);
    }
    return out;
  }

  // Two tokens in acme-prod (one file) and one in acme-dev, created and ready.
  void StartWithThreeTokens(std::vector<std::string> extra = {}) {
    WriteFile(specs_ / "prod.yaml", Yaml({"ci-push", "acme-prod", "enabled", "[pull, push]"}) +
                                        "---\n" + Yaml({"payments-pull", "acme-prod"}));
    WriteFile(specs_ / "dev.yaml", Yaml({"dev-pull", "acme-dev"}));
    Start(std::move(extra));
    ASSERT_TRUE(WaitReady()) << "never ready";
    ASSERT_FALSE(Token("acme-prod", "ci-push").is_null());
    ASSERT_FALSE(Token("acme-prod", "payments-pull").is_null());
    ASSERT_FALSE(Token("acme-dev", "dev-pull").is_null());
  }

  nlohmann::json state_;
};

TEST_F(DaemonE2ETest, ReadyOnlyAfterTheFirstPass) {
  WriteFile(specs_ / "prod.yaml", Yaml({"ci-push", "acme-prod"}));
  // Hold the first token list for 3 s, so that the first pass is still running when the process
  // already serves /healthz.
  emu_->AddFault({{"method", "GET"}, {"path", "/tokens"}, {"delayMs", 3000}, {"times", 1}});
  Start();
  ASSERT_TRUE(WaitUntil([&] { return Get(health_port_, "/healthz") == 200; }, kGenerous));
  EXPECT_EQ(Get(health_port_, "/readyz"), 503);
  ASSERT_TRUE(WaitReady());
  EXPECT_EQ(Get(health_port_, "/healthz"), 200);
  EXPECT_FALSE(Token("acme-prod", "ci-push").is_null());
}

TEST_F(DaemonE2ETest, MetricsOverHttpAfterAPass) {
  StartWithThreeTokens();
  const std::string m = Metrics();
  EXPECT_EQ(
      MetricValue(m, "crtoken_token_operations_total{operation=\"create\",result=\"success\"}"),
      3.0)
      << m;
  EXPECT_EQ(MetricValue(m, "crtoken_secret_writes_total{result=\"success\",sink=\"file\"}"), 3.0)
      << m;
  EXPECT_EQ(MetricValue(m, "crtoken_spec_errors"), 0.0);
  EXPECT_GE(MetricValue(m, "crtoken_reconcile_total{result=\"success\"}").value_or(0), 2.0);
  EXPECT_GT(MetricValue(m, "crtoken_last_success_timestamp_seconds").value_or(0), 1.7e9);
  EXPECT_GE(MetricValue(m, "crtoken_reconcile_duration_seconds_count").value_or(0), 2.0);
  EXPECT_GE(MetricValue(m, "crtoken_api_requests_total{code=\"200\",method=\"GET\"}").value_or(0),
            2.0)
      << m;
  // The verification pass after the creates shows every token in sync.
  EXPECT_TRUE(
      WaitUntil([&] { return Metric("crtoken_tokens{state=\"in_sync\"}") == 3; }, kGenerous))
      << Metrics();
  EXPECT_EQ(Metric("crtoken_tokens{state=\"pending\"}"), 0);
  EXPECT_EQ(Metric("crtoken_tokens{state=\"error\"}"), 0);
  // Every password reached its secret.
  for (auto [file, registry, name] :
       {std::tuple{"ci-push-acme-prod.json", "acme-prod", "ci-push"},
        std::tuple{"payments-pull-acme-prod.json", "acme-prod", "payments-pull"},
        std::tuple{"dev-pull-acme-dev.json", "acme-dev", "dev-pull"}}) {
    EXPECT_EQ(SecretPassword(file, registry), Token(registry, name)["password"]) << file;
  }
}

TEST_F(DaemonE2ETest, EditedSpecReachesEmulatorAsPatch) {
  StartWithThreeTokens();
  const std::string path = TokenPath("acme-prod", "payments-pull");
  emu_->ClearRequests();
  const auto t0 = std::chrono::steady_clock::now();
  // An in-place rewrite (truncate, write, close), the hardest case for a watcher.
  WriteFile(specs_ / "prod.yaml", Yaml({"ci-push", "acme-prod", "enabled", "[pull, push]"}) +
                                      "---\n" + Yaml({"payments-pull", "acme-prod", "disabled"}));
  auto took = WaitForRequest("PATCH", path, t0, kChangeDeadline);
  ASSERT_TRUE(took) << "no PATCH " << path << " within " << kChangeDeadline.count() << " ms";
  std::cout << "edit -> PATCH in " << took->count() << " ms\n";
  ASSERT_TRUE(WaitUntil([&] { return Token("acme-prod", "payments-pull")["status"] == "disabled"; },
                        kGenerous));
  // Only that token was written to.
  for (const auto& w : Writes()) EXPECT_EQ(w.path, path) << w.method;
}

TEST_F(DaemonE2ETest, EditorRenameIntoPlaceReachesEmulator) {
  StartWithThreeTokens();
  const std::string path = TokenPath("acme-dev", "dev-pull");
  emu_->ClearRequests();
  const auto t0 = std::chrono::steady_clock::now();
  WriteFile(specs_ / ".dev.yaml.swp", Yaml({"dev-pull", "acme-dev", "enabled", "[pull, push]"}));
  fs::rename(specs_ / ".dev.yaml.swp", specs_ / "dev.yaml");
  auto took = WaitForRequest("PATCH", path, t0, kChangeDeadline);
  ASSERT_TRUE(took) << "no PATCH " << path;
  std::cout << "rename into place -> PATCH in " << took->count() << " ms\n";
}

TEST_F(DaemonE2ETest, RenamedTokenIsDeletedAndCreated) {
  // The delete waits for the spec files to settle (spec_settle_e2e_test.cc); kept short here.
  StartWithThreeTokens({"--prune-settle", "100ms"});
  const std::string old_path = TokenPath("acme-dev", "dev-pull");
  emu_->ClearRequests();
  const auto t0 = std::chrono::steady_clock::now();
  WriteFile(specs_ / "dev.yaml",
            Yaml({"dev-pull-v2", "acme-dev", "enabled", "[pull]", "dev-pull-acme-dev.json"}));
  auto deleted = WaitForRequest("DELETE", old_path, t0, kChangeDeadline);
  ASSERT_TRUE(deleted) << "the old token was not deleted";
  ASSERT_TRUE(WaitUntil([&] { return !Token("acme-dev", "dev-pull-v2").is_null(); }, kGenerous));
  EXPECT_TRUE(Token("acme-dev", "dev-pull").is_null());
  ASSERT_TRUE(WaitUntil(
      [&] {
        return SecretPassword("dev-pull-acme-dev.json", "acme-dev") ==
               Token("acme-dev", "dev-pull-v2")["password"];
      },
      kGenerous));
}

TEST_F(DaemonE2ETest, DeletedSpecDeletesTheOwnedToken) {
  StartWithThreeTokens({"--prune-settle", "100ms"});
  const std::string path = TokenPath("acme-dev", "dev-pull");
  emu_->ClearRequests();
  const auto t0 = std::chrono::steady_clock::now();
  fs::remove(specs_ / "dev.yaml");
  ASSERT_TRUE(WaitForRequest("DELETE", path, t0, kChangeDeadline)) << "no DELETE " << path;
  ASSERT_TRUE(
      WaitUntil([&] { return !fs::exists(dir_ / "secrets/dev-pull-acme-dev.json"); }, kGenerous));
  EXPECT_FALSE(Token("acme-prod", "ci-push").is_null());
}

TEST_F(DaemonE2ETest, ConfigMapDataSymlinkSwapReachesEmulator) {
  // The kubelet's ConfigMap volume: tokens.yaml -> ..data/tokens.yaml, ..data -> ..<ts>.
  const fs::path vol = dir_ / "configmap";
  WriteFile(vol / "..2026_11_28_10_00_00.1/tokens.yaml", Yaml({"ci-push", "acme-prod"}));
  fs::create_directory_symlink("..2026_11_28_10_00_00.1", vol / "..data");
  fs::create_symlink("..data/tokens.yaml", vol / "tokens.yaml");
  Start({}, vol);
  ASSERT_TRUE(WaitReady());
  const std::string path = TokenPath("acme-prod", "ci-push");
  ASSERT_FALSE(path.empty());
  emu_->ClearRequests();
  const auto t0 = std::chrono::steady_clock::now();
  WriteFile(vol / "..2026_11_28_10_01_00.2/tokens.yaml",
            Yaml({"ci-push", "acme-prod", "enabled", "[pull, push, delete]"}));
  fs::create_directory_symlink("..2026_11_28_10_01_00.2", vol / "..data_tmp");
  fs::rename(vol / "..data_tmp", vol / "..data");
  fs::remove_all(vol / "..2026_11_28_10_00_00.1");
  auto took = WaitForRequest("PATCH", path, t0, kChangeDeadline);
  ASSERT_TRUE(took) << "no PATCH " << path;
  std::cout << "..data swap -> PATCH in " << took->count() << " ms\n";
  ASSERT_TRUE(
      WaitUntil([&] { return Token("acme-prod", "ci-push")["scopes"][0]["actions"].size() == 3; },
                kGenerous));
}

TEST_F(DaemonE2ETest, BrokenSpecKeepsLastGoodStateAndRaisesSpecErrors) {
  StartWithThreeTokens();
  const double passes = Metric("crtoken_reconcile_total{result=\"success\"}");
  emu_->ClearRequests();
  // prod.yaml breaks: an unknown field. Its tokens must stay exactly as they are.
  WriteFile(specs_ / "prod.yaml", Yaml({"ci-push", "acme-prod"}) + "  colour: blue\n");
  ASSERT_TRUE(WaitUntil([&] { return Metric("crtoken_spec_errors") >= 1; }, kGenerous))
      << Metrics();
  // The reload re-checks every registry; wait until those passes ran.
  ASSERT_TRUE(
      WaitUntil([&] { return Metric("crtoken_reconcile_total{result=\"success\"}") >= passes + 2; },
                kGenerous));
  EXPECT_TRUE(Writes().empty()) << Writes().front().method << " " << Writes().front().path;
  EXPECT_FALSE(Token("acme-prod", "ci-push").is_null());
  EXPECT_FALSE(Token("acme-prod", "payments-pull").is_null());
  EXPECT_NE(daemon_->Log().find("prod.yaml:"), std::string::npos) << "FILE:LINE:COL logged";
  // Fixed: the error clears.
  WriteFile(specs_ / "prod.yaml", Yaml({"ci-push", "acme-prod", "enabled", "[pull, push]"}) +
                                      "---\n" + Yaml({"payments-pull", "acme-prod"}));
  ASSERT_TRUE(WaitUntil([&] { return Metric("crtoken_spec_errors") == 0; }, kGenerous));
}

TEST_F(DaemonE2ETest, SigtermDuringAPassExitsZeroWithoutLosingAPassword) {
  StartWithThreeTokens();
  // Three more tokens, each create held up by 700 ms in the emulator.
  emu_->AddFault({{"method", "PUT"}, {"delayMs", 700}});
  emu_->ClearRequests();
  WriteFile(specs_ / "more.yaml", Yaml({"more-a", "acme-prod"}) + "---\n" +
                                      Yaml({"more-b", "acme-prod"}) + "---\n" +
                                      Yaml({"more-c", "acme-prod"}));
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const auto& r : emu_->Requests()) {
          if (r.method == "PUT") return true;
        }
        return false;
      },
      kGenerous))
      << "no create started";
  daemon_->Signal(SIGTERM);
  auto code = daemon_->Wait(seconds(60));
  ASSERT_TRUE(code) << "did not exit";
  EXPECT_EQ(*code, 0);
  // Whatever was created has its password in its secret.
  for (const auto& r : State()["registries"]) {
    for (const auto& t : r["tokens"]) {
      const std::string name = t["name"];
      const std::string registry = r["name"];
      EXPECT_EQ(SecretPassword(name + "-" + registry + ".json", registry), t["password"])
          << name << ": a token exists whose password never reached its secret";
    }
  }
  EXPECT_NE(daemon_->Log().find("stopped cleanly"), std::string::npos);
}

TEST_F(DaemonE2ETest, SigtermWhileRetryingAnUnavailableApiExitsZeroWithinTheDeadline) {
  StartWithThreeTokens({"--shutdown-timeout", "6s"});
  // Every token list now fails with 503: the pass retries with backoff (a 2 minute budget).
  emu_->AddFault({{"method", "GET"}, {"path", "/tokens"}, {"status", 503}});
  emu_->ClearRequests();
  WriteFile(specs_ / "more.yaml", Yaml({"more-a", "acme-prod"}));
  ASSERT_TRUE(WaitUntil(
      [&] {
        int failed = 0;
        for (const auto& r : emu_->Requests()) failed += r.status == 503 ? 1 : 0;
        return failed >= 2;  // retrying, not just failing once
      },
      kGenerous))
      << "the pass never started retrying";
  daemon_->Signal(SIGTERM);
  auto code = daemon_->Wait(seconds(60));
  ASSERT_TRUE(code) << "did not exit";
  // Without cutting the retries short, the pass outlives the 6 s deadline and the exit is 1.
  EXPECT_EQ(*code, 0) << daemon_->Log();
  EXPECT_NE(daemon_->Log().find("cutting API retries short"), std::string::npos);
  EXPECT_NE(daemon_->Log().find("stopped cleanly"), std::string::npos);
}

TEST_F(DaemonE2ETest, SecondSignalExitsAtOnce) {
  StartWithThreeTokens();
  emu_->AddFault({{"method", "PUT"}, {"delayMs", 20000}});
  emu_->ClearRequests();
  WriteFile(specs_ / "slow.yaml", Yaml({"slow", "acme-prod"}));
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const auto& r : emu_->Requests()) {
          if (r.method == "GET" && r.path.find("/tokens") != std::string::npos) return true;
        }
        return false;
      },
      kGenerous));
  daemon_->Signal(SIGTERM);
  ASSERT_TRUE(WaitUntil([&] { return daemon_->Log().find("shutting down") != std::string::npos; },
                        kGenerous));
  EXPECT_TRUE(daemon_->running()) << "the first signal waits for the work in flight";
  daemon_->Signal(SIGINT);
  auto code = daemon_->Wait(seconds(10));
  ASSERT_TRUE(code) << "a second signal must end the process at once";
  EXPECT_NE(*code, 0);
}

TEST_F(DaemonE2ETest, SighupReloadsWhenNotWatching) {
  WriteFile(specs_ / "dev.yaml", Yaml({"dev-pull", "acme-dev"}));
  // Polling so slow that only SIGHUP can make the change visible.
  Start({"--watch", "poll", "--poll-interval", "1h"});
  ASSERT_TRUE(WaitReady());
  const std::string path = TokenPath("acme-dev", "dev-pull");
  WriteFile(specs_ / "dev.yaml", Yaml({"dev-pull", "acme-dev", "disabled"}));
  emu_->ClearRequests();
  const auto t0 = std::chrono::steady_clock::now();
  daemon_->Signal(SIGHUP);
  ASSERT_TRUE(WaitForRequest("PATCH", path, t0, kGenerous));
}

TEST_F(DaemonE2ETest, DryRunWritesNothing) {
  WriteFile(specs_ / "prod.yaml", Yaml({"ci-push", "acme-prod"}));
  Start({"--dry-run"});
  ASSERT_TRUE(WaitReady());
  EXPECT_TRUE(Writes().empty());
  EXPECT_TRUE(Token("acme-prod", "ci-push").is_null());
  EXPECT_FALSE(fs::exists(dir_ / "secrets/ci-push-acme-prod.json"));
  EXPECT_NE(daemon_->Log().find("create"), std::string::npos) << "the plan is logged";
  daemon_->Signal(SIGTERM);
  EXPECT_EQ(daemon_->Wait(seconds(30)), 0);
}

TEST_F(DaemonE2ETest, JsonLogsAreOneObjectPerLineAndCarryNoPassword) {
  StartWithThreeTokens({"--log-format", "json", "--log-level", "debug"});
  daemon_->Signal(SIGTERM);
  ASSERT_EQ(daemon_->Wait(seconds(30)), 0);
  std::istringstream in(daemon_->Log());
  std::string line;
  int lines = 0;
  std::set<std::string> created;  // "registry/token" of the engine's "done" lines of creates
  int pass_lines = 0;
  std::set<std::string> passed;  // the registry keys of the daemon's passes
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not JSON: " << line;
    EXPECT_TRUE(j.contains("time") && j.contains("level") && j.contains("message")) << line;
    lines++;
    if (j.value("action", "") == "create" && j["message"].get<std::string>().ends_with(": done")) {
      created.insert(j.value("registry", "") + "/" + j.value("token", ""));
    }
    if (j["message"] == "reconcile pass done" && j.contains("write_requests")) {
      ++pass_lines;
      passed.insert(j.value("registry", ""));
    }
  }
  EXPECT_GT(lines, 3);
  // The engine's lines carry fields a log pipeline can select on.
  EXPECT_EQ(created, (std::set<std::string>{"acme-prod/ci-push", "acme-prod/payments-pull",
                                            "acme-dev/dev-pull"}));
  EXPECT_GT(pass_lines, 0);
  EXPECT_EQ(passed, (std::set<std::string>{"acme-prod", "acme-dev"}));
  const std::string log = daemon_->Log();
  for (const auto& r : State()["registries"]) {
    for (const auto& t : r["tokens"]) {
      const std::string pw = t["password"];
      ASSERT_FALSE(pw.empty());
      EXPECT_EQ(log.find(pw), std::string::npos) << "a password was logged";
    }
  }
  EXPECT_EQ(log.find("e2e-token"), std::string::npos) << "the API credential was logged";
}

}  // namespace
}  // namespace crtoken::test
