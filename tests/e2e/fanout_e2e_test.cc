// Namespace fan-out and ServiceAccount imagePullSecrets, end to end: the real `crtoken run`,
// crtoken-emulator and the Kubernetes API emulator (tests/support/k8s_emulator), with kubectl as
// the independent client that labels namespaces, deletes a Secret and reads the results. One
// token, one password: every copy holds the password the registry issued when it created the
// token, and no step re-issues it.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "daemon/common/base64.h"
#include "tests/support/crtoken_process.h"
#include "tests/support/daemon_process.h"
#include "tests/support/emulator_process.h"
#include "tests/support/http_client.h"
#include "tests/support/k8s_emulator/k8s_emulator_process.h"
#include "tests/support/temp_dir.h"

namespace crtoken::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr char kKubeToken[] = "kt-fanout-e2e";

class FanOutE2eTest : public ::testing::Test {
 protected:
  explicit FanOutE2eTest(std::vector<std::string> k8s_flags = {})
      : dir_("crtoken-fanout-e2e"), k8s_(CRTOKEN_PYTHON, Script(), Flags(k8s_flags, dir_)) {
    fs::create_directories(dir_ / "specs");
    fs::create_directories(dir_ / "run");
  }

  static std::string Script() {
    return std::string(CRTOKEN_SOURCE_DIR) + "/tests/support/k8s_emulator/k8s_emulator.py";
  }
  static std::vector<std::string> Flags(std::vector<std::string> extra, const TempDir& dir) {
    std::vector<std::string> flags = {"--token", kKubeToken, "--kubeconfig-out",
                                      (dir / "kubeconfig").string()};
    flags.insert(flags.end(), extra.begin(), extra.end());
    return flags;
  }

  void SetUp() override {
    ASSERT_TRUE(k8s_.started()) << k8s_.first_line();
    emu_ = std::make_unique<EmulatorProcess>(
        std::vector<std::string>{"--registry", "acme", "--token", "e2e-token"});
  }

  void TearDown() override {
    if (HasFailure() && daemon_) std::cerr << "---- crtoken run ----\n" << daemon_->Log();
  }

  // A spec file per token; `secret` is the YAML under spec.secret (indented by 4).
  void Declare(const std::string& name, const std::string& secret) {
    WriteFile(dir_ / "specs" / (name + ".yaml"),
              "apiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\nmetadata:\n  name: " + name +
                  "\nspec:\n  registry: acme\n  scopes:\n    - {name: \"*\", type: repository, "
                  "actions: [pull]}\n  secret:\n" +
                  secret);
  }

  void StartDaemon() {
    daemon_ = crtoken::test::StartDaemon(
        {dir_ / "specs", emu_->base_url(), dir_ / "run", metrics_port_, health_port_},
        {"--kubeconfig", (dir_ / "kubeconfig").string(), "--cluster-poll", "300ms",
         "--prune-settle", "1s", "--resync", "10m"});
  }

  // kubectl ARGS against the Kubernetes API emulator; its stdout (the test fails on an error).
  std::string Kubectl(std::vector<std::string> args) {
    args.insert(args.end(), {"--cache-dir", (dir_ / "kubectl-cache").string()});
    CommandResult r =
        RunProgram("/usr/bin/kubectl", args,
                   {{"KUBECONFIG", (dir_ / "kubeconfig").string()}, {"HOME", dir_.path().string()}},
                   dir_.path().string(), 60s);
    EXPECT_EQ(r.exit_code, 0) << "kubectl " << args[0] << ": " << r.err;
    return r.out;
  }
  json KubectlJson(std::vector<std::string> args) {
    args.insert(args.end(), {"-o", "json"});
    return json::parse(Kubectl(std::move(args)), nullptr, /*allow_exceptions=*/false);
  }

  // The namespaces holding a Secret named `name`, as kubectl lists them.
  std::set<std::string> CopiesOf(const std::string& name) {
    std::set<std::string> out;
    const json list =
        KubectlJson({"get", "secrets", "-A", "--field-selector", "metadata.name=" + name});
    if (!list.contains("items")) return out;
    for (const json& item : list["items"]) out.insert(item["metadata"]["namespace"]);
    return out;
  }

  // The password in the Secret `ns`/`name` (its one auths entry), "" when there is none.
  std::string PasswordIn(const std::string& ns, const std::string& name) {
    auto [status, secret] =
        k8s_.Api("GET", "/api/v1/namespaces/" + ns + "/secrets/" + name, kKubeToken);
    if (status != 200) return "";
    auto decoded = Base64Decode(secret["data"][".dockerconfigjson"].get<std::string>());
    if (!decoded) return "";
    const json config = json::parse(*decoded, nullptr, false);
    if (!config.is_object() || !config.contains("auths")) return "";
    for (const auto& [host, entry] : config["auths"].items()) return entry.value("password", "");
    return "";
  }

  // The token `name` as the registry emulator holds it (id and the password it issued).
  std::optional<json> Token(const std::string& name) {
    json token = emu_->Token(name);
    if (token.is_null()) return std::nullopt;
    return token;
  }
  int TokenPuts() {
    int n = 0;
    for (const auto& r : emu_->Requests()) n += r.method == "PUT";
    return n;
  }

  // imagePullSecrets names of a ServiceAccount, in order, as kubectl shows them.
  std::vector<std::string> PullSecrets(const std::string& ns, const std::string& sa) {
    std::vector<std::string> out;
    const json obj = KubectlJson({"get", "serviceaccount", sa, "-n", ns});
    if (obj.contains("imagePullSecrets")) {
      for (const json& e : obj["imagePullSecrets"]) out.push_back(e["name"]);
    }
    return out;
  }

  double Metric(const std::string& series) { return ScrapeMetric(metrics_port_, series); }

  TempDir dir_;
  K8sEmulatorProcess k8s_;
  std::unique_ptr<EmulatorProcess> emu_;
  int metrics_port_ = FreePort();
  int health_port_ = FreePort();
  std::unique_ptr<DaemonProcess> daemon_;
};

class FanOutSelectorE2eTest : public FanOutE2eTest {
 protected:
  FanOutSelectorE2eTest()
      : FanOutE2eTest({"--namespace", "team-a,pull=yes", "--namespace", "team-b,pull=yes",
                       "--namespace", "team-c,pull=yes", "--namespace", "team-d"}) {}
};

TEST_F(FanOutSelectorE2eTest, TheSecretFollowsTheSelectorAndTheServiceAccounts) {
  // A ServiceAccount with an entry of its own, and one that crtoken alone fills.
  Kubectl({"create", "serviceaccount", "default", "-n", "team-a"});
  Kubectl({"patch", "serviceaccount", "default", "-n", "team-a", "--type", "merge", "-p",
           R"({"imagePullSecrets":[{"name":"their-own"}]})"});
  Kubectl({"create", "serviceaccount", "builder", "-n", "team-b"});
  // A token that stays declared: a spec tree without any spec file is taken as unread, and then
  // nothing is pruned.
  Declare("keeper", "    file: keeper.json\n");
  Declare("puller",
          "    kubernetes:\n      name: pull\n      namespaceSelector:\n        matchLabels: "
          "{pull: \"yes\"}\n"
          "      serviceAccounts: [default, builder]\n");
  StartDaemon();

  // Three labelled namespaces get the Secret, the fourth does not; one password in each.
  ASSERT_TRUE(WaitUntil([&] {
    return CopiesOf("pull") == std::set<std::string>{"team-a", "team-b", "team-c"};
  })) << Kubectl({"get", "secrets", "-A"});
  std::optional<json> token = Token("puller");
  ASSERT_TRUE(token);
  const std::string password = (*token)["password"];
  const std::string id = (*token)["id"];
  ASSERT_FALSE(password.empty());
  for (const char* ns : {"team-a", "team-b", "team-c"}) {
    EXPECT_EQ(PasswordIn(ns, "pull"), password) << ns;
  }
  const int puts = TokenPuts();
  EXPECT_EQ(puts, 2);  // puller and keeper

  // The ServiceAccounts: the foreign entry kept (first), crtoken's added.
  ASSERT_TRUE(WaitUntil([&] {
    return PullSecrets("team-a", "default") == std::vector<std::string>{"their-own", "pull"} &&
           PullSecrets("team-b", "builder") == std::vector<std::string>{"pull"};
  })) << Kubectl({"get", "serviceaccounts", "-A", "-o", "yaml"});

  // A namespace labelled now gets the Secret within seconds (the resync is 10 minutes away).
  Kubectl({"label", "namespace", "team-d", "pull=yes"});
  ASSERT_TRUE(WaitUntil([&] { return CopiesOf("pull").count("team-d") == 1; }, 15s));
  EXPECT_EQ(PasswordIn("team-d", "pull"), password);

  // A namespace unlabelled loses its copy, and its ServiceAccount crtoken's entry.
  Kubectl({"label", "namespace", "team-b", "pull-"});
  ASSERT_TRUE(WaitUntil([&] { return CopiesOf("pull").count("team-b") == 0; }, 15s));
  ASSERT_TRUE(WaitUntil([&] { return PullSecrets("team-b", "builder").empty(); }, 15s));

  // A copy deleted by hand comes back with the same password: no re-issue.
  Kubectl({"delete", "secret", "pull", "-n", "team-c"});
  ASSERT_TRUE(WaitUntil([&] { return CopiesOf("pull").count("team-c") == 1; }, 15s));
  EXPECT_EQ(PasswordIn("team-c", "pull"), password);
  token = Token("puller");
  ASSERT_TRUE(token);
  EXPECT_EQ((*token)["id"], id);
  EXPECT_EQ(TokenPuts(), puts) << "a token was created again";
  EXPECT_EQ(CopiesOf("pull"), (std::set<std::string>{"team-a", "team-c", "team-d"}));
  EXPECT_EQ(Metric("crtoken_secret_namespaces{result=\"written\"}"), 3);

  // Removing the spec removes every copy and every entry crtoken added; the foreign one stays.
  fs::remove(dir_ / "specs" / "puller.yaml");
  ASSERT_TRUE(WaitUntil([&] { return CopiesOf("pull").empty() && !Token("puller"); }))
      << Kubectl({"get", "secrets", "-A"});
  ASSERT_TRUE(WaitUntil(
      [&] { return PullSecrets("team-a", "default") == std::vector<std::string>{"their-own"}; }));
  EXPECT_TRUE(PullSecrets("team-b", "builder").empty());
  const json sa = KubectlJson({"get", "serviceaccount", "default", "-n", "team-a"});
  EXPECT_FALSE(sa["metadata"].contains("annotations") &&
               sa["metadata"]["annotations"].contains("crtoken.io/image-pull-secrets"))
      << sa.dump();
}

class FanOutForbiddenE2eTest : public FanOutE2eTest {
 protected:
  FanOutForbiddenE2eTest()
      : FanOutE2eTest({"--namespace", "team-a,pull=yes", "--namespace", "team-b,pull=yes",
                       "--namespace", "team-f,pull=yes", "--forbid", "team-f"}) {}
};

TEST_F(FanOutForbiddenE2eTest, AForbiddenNamespaceIsReportedWhileTheOthersConverge) {
  Declare("puller",
          "    kubernetes:\n      name: pull\n      namespaceSelector:\n        matchExpressions:\n"
          "          - {key: pull, operator: In, values: [\"yes\"]}\n");
  StartDaemon();
  ASSERT_TRUE(WaitUntil([&] {
    return CopiesOf("pull") == std::set<std::string>{"team-a", "team-b"} &&
           Metric("crtoken_secret_namespaces{result=\"forbidden\"}") == 1;
  }));
  EXPECT_EQ(Metric("crtoken_secret_namespaces{result=\"written\"}"), 2);
  std::optional<json> token = Token("puller");
  ASSERT_TRUE(token);
  for (const char* ns : {"team-a", "team-b"}) {
    EXPECT_EQ(PasswordIn(ns, "pull"), (*token)["password"]) << ns;
  }
  // The daemon's status names the namespace and why, and the log says it.
  ASSERT_TRUE(WaitUntil([&] {
    CommandResult status =
        RunCrtoken({"status", "--from", "http://127.0.0.1:" + std::to_string(health_port_)}, {},
                   dir_.path().string());
    return status.exit_code == 1 && status.out.find("team-f") != std::string::npos &&
           status.out.find("forbidden") != std::string::npos;
  })) << daemon_->Log();
  EXPECT_NE(daemon_->Log().find("namespace team-f: forbidden"), std::string::npos);
  // Several passes later: still the one token, never re-issued for the namespace it cannot write.
  ASSERT_TRUE(WaitUntil([&] { return Metric("crtoken_reconcile_total{result=\"error\"}") >= 2; }));
  EXPECT_EQ(TokenPuts(), 1);
  EXPECT_EQ(Token("puller").value()["id"], (*token)["id"]);

  // Allowed again: the copy follows, with the same password.
  auto [status, body] = k8s_.Api("DELETE", "/_emulator/forbid", kKubeToken);
  ASSERT_EQ(status, 200) << body.dump();
  ASSERT_TRUE(WaitUntil([&] { return CopiesOf("pull").count("team-f") == 1; }));
  EXPECT_EQ(PasswordIn("team-f", "pull"), (*token)["password"]);
  EXPECT_EQ(TokenPuts(), 1);
}

}  // namespace
}  // namespace crtoken::test
