// `crtoken plan` and `crtoken apply` end to end: the real binaries, the emulator's request log and
// state (with the passwords it issued), and the secret files on disk.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "reconciler/time_util.h"
#include "tests/support/crtoken_process.h"
#include "tests/support/emulator_process.h"
#include "tests/support/http_client.h"
#include "tests/support/temp_dir.h"

namespace crtoken::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

struct SpecText {
  SpecText(std::string n, std::string r) : name(std::move(n)), registry(std::move(r)) {}
  std::string name;
  std::string registry;
  std::string status = "enabled";
  std::string expiry;        // "" = none
  std::string lifetime;      // "" = none
  std::string renew_before;  // "" = the default
  std::string scopes =
      "    - name: \"app/*\"\n      type: repository\n      actions: [pull, push]\n";
  std::string secret;  // "" = <name>.json
  bool adopt = false;

  std::string Yaml() const {
    std::string y =
        "apiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\nmetadata:\n  name: " + name +
        "\nspec:\n  registry: " + registry + "\n  status: " + status + "\n";
    if (!expiry.empty()) y += "  expiryDate: " + expiry + "\n";
    if (!lifetime.empty()) y += "  lifetime: " + lifetime + "\n";
    if (!renew_before.empty()) y += "  renewBefore: " + renew_before + "\n";
    if (adopt) y += "  adopt: true\n";
    y += "  scopes:\n" + scopes;
    y += "  secret:\n    file: " + (secret.empty() ? name + ".json" : secret) + "\n";
    return y;
  }
};

class PlanApplyE2eTest : public ::testing::Test {
 protected:
  explicit PlanApplyE2eTest(std::vector<std::string> emulator_flags = {})
      : emu_(EmulatorArgs(std::move(emulator_flags))), dir_("crtoken-e2e") {
    fs::create_directories(dir_ / "specs");
    fs::create_directories(dir_ / "out");
  }

  static std::vector<std::string> EmulatorArgs(std::vector<std::string> extra) {
    std::vector<std::string> args = {"--registry", "acme", "--registry", "beta", "--token", "t"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  void WriteSpec(const std::string& file, const std::vector<SpecText>& docs) {
    std::ofstream out(dir_ / ("specs/" + file), std::ios::trunc);
    for (size_t i = 0; i < docs.size(); ++i) {
      if (i > 0) out << "---\n";
      out << docs[i].Yaml();
    }
  }
  void WriteRaw(const std::string& file, const std::string& text) {
    std::ofstream out(dir_ / ("specs/" + file), std::ios::trunc);
    out << text;
  }

  // One run of crtoken, in dir_ as its working directory (a checkout holding the specs).
  CommandResult Run(const std::string& command, std::map<std::string, std::string> env = {},
                    std::vector<std::string> extra = {}) {
    env["IONOS_TOKEN"] = "t";
    std::vector<std::string> args = {command,
                                     "--specs",
                                     (dir_ / "specs").string(),
                                     "--api-url",
                                     emu_.base_url(),
                                     "--secret-dir",
                                     (dir_ / "secrets").string(),
                                     "--api-qps",
                                     "1000",
                                     "--api-burst",
                                     "1000"};
    args.insert(args.end(), extra.begin(), extra.end());
    const std::string cwd = dir_.path().string();
    return RunCrtoken(args, env, (dir_ / "out").string(), std::chrono::milliseconds(0), [cwd] {
      if (::chdir(cwd.c_str()) != 0) ::_exit(126);
    });
  }

  // What dir_ holds at its top level.
  std::set<std::string> Entries() {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_.path())) {
      names.insert(e.path().filename().string());
    }
    return names;
  }

  // A copy of the emulator's state (never iterate into a temporary's member: it dangles).
  const json& State() {
    state_ = emu_.StateJson();
    return state_;
  }

  // The emulator's token named `name` in `registry`, with its issued password.
  std::optional<json> Token(const std::string& registry, const std::string& name) {
    for (const auto& r : State()["registries"]) {
      if (r["name"] != registry) continue;
      for (const auto& t : r["tokens"]) {
        if (t["name"] == name) return t;
      }
    }
    return std::nullopt;
  }
  size_t TokenCount(const std::string& registry) {
    for (const auto& r : State()["registries"]) {
      if (r["name"] == registry) return r["tokens"].size();
    }
    return 0;
  }

  // The secret file holds the password the emulator issued, for the registry's hostname.
  void ExpectSecretWorks(const std::string& registry, const std::string& name,
                         const std::string& file = "") {
    auto token = Token(registry, name);
    ASSERT_TRUE(token.has_value()) << registry << "/" << name;
    const fs::path path = dir_ / ("secrets/" + (file.empty() ? name + ".json" : file));
    ASSERT_TRUE(fs::exists(path)) << path;
    struct stat st;
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    json doc = json::parse(ReadFile(path.string()));
    const std::string host = registry + ".cr.de-fra.ionos.com";
    ASSERT_TRUE(doc["auths"].contains(host)) << doc.dump();
    EXPECT_EQ(doc["auths"][host]["username"], name);
    EXPECT_EQ(doc["auths"][host]["password"], (*token)["password"]);
  }

  int WriteRequests() {
    int n = 0;
    for (const auto& r : emu_.Requests()) {
      if (r.method != "GET" && r.method != "HEAD") ++n;
    }
    return n;
  }
  int Requests(const std::string& method) {
    int n = 0;
    for (const auto& r : emu_.Requests()) n += r.method == method;
    return n;
  }
  std::string Log() {
    std::string s;
    for (const auto& r : emu_.Requests()) {
      s += r.method + " " + r.path + " " + std::to_string(r.status) + "\n";
    }
    return s;
  }

  // Every password the emulator issued, to prove none of them reached the output.
  void ExpectNoPasswordIn(const CommandResult& r) {
    for (const auto& reg : State()["registries"]) {
      for (const auto& t : reg["tokens"]) {
        const std::string pw = t["password"];
        if (pw.empty()) continue;
        EXPECT_EQ(r.out.find(pw), std::string::npos);
        EXPECT_EQ(r.err.find(pw), std::string::npos);
      }
    }
  }

  EmulatorProcess emu_;
  TempDir dir_;
  json state_;
};

#define ASSERT_EXIT_CODE(result, code) \
  ASSERT_EQ((result).exit_code, code) << "stdout:\n" << (result).out << "stderr:\n" << (result).err

TEST_F(PlanApplyE2eTest, FreshCreateAcrossTwoRegistriesThenNothingToDo) {
  WriteSpec("acme.yaml", {{"ci-push", "acme"}, {"puller", "acme"}});
  WriteSpec("beta.yaml", {{"deployer", "beta"}});

  CommandResult plan = Run("plan");
  ASSERT_EXIT_CODE(plan, 2);
  EXPECT_NE(plan.out.find("create"), std::string::npos) << plan.out;
  EXPECT_EQ(WriteRequests(), 0) << Log();
  EXPECT_FALSE(fs::exists(dir_ / "secrets"));
  EXPECT_EQ(Entries(), (std::set<std::string>{"out", "specs"}));

  // At the most verbose log level, still no password in any output.
  CommandResult apply = Run("apply", {}, {"--log-level", "trace"});
  ASSERT_EXIT_CODE(apply, 0);
  ExpectSecretWorks("acme", "ci-push");
  ExpectSecretWorks("acme", "puller");
  ExpectSecretWorks("beta", "deployer");
  EXPECT_EQ(Requests("PUT"), 3) << Log();
  ExpectNoPasswordIn(apply);
  // crtoken keeps no state: what it owns is read from the registry and the secrets. Its working
  // directory holds nothing it wrote but the secrets.
  EXPECT_EQ(Entries(), (std::set<std::string>{"out", "secrets", "specs"}));

  emu_.ClearRequests();
  CommandResult again = Run("apply");
  ASSERT_EXIT_CODE(again, 0);
  EXPECT_EQ(WriteRequests(), 0) << Log();
  CommandResult plan2 = Run("plan");
  ASSERT_EXIT_CODE(plan2, 0);
}

TEST_F(PlanApplyE2eTest, StatusExpiryAndScopeChangesAreOnePatchEachAndReorderingIsNone) {
  SpecText spec{"ci-push", "acme"};
  spec.scopes =
      "    - name: \"app/*\"\n      type: repository\n      actions: [pull, push]\n"
      "    - name: \"*\"\n      type: registry\n      actions: [pull]\n";
  WriteSpec("a.yaml", {spec});
  ASSERT_EXIT_CODE(Run("apply"), 0);
  const std::string password = (*Token("acme", "ci-push"))["password"];

  // Reordered scopes and actions: nothing to do.
  SpecText reordered = spec;
  reordered.scopes =
      "    - name: \"*\"\n      type: registry\n      actions: [pull]\n"
      "    - name: \"app/*\"\n      type: repository\n      actions: [push, pull]\n";
  WriteSpec("a.yaml", {reordered});
  emu_.ClearRequests();
  ASSERT_EXIT_CODE(Run("plan"), 0);
  ASSERT_EXIT_CODE(Run("apply"), 0);
  EXPECT_EQ(WriteRequests(), 0) << Log();

  struct Change {
    const char* what;
    std::function<void(SpecText&)> edit;
    std::function<void(const json&)> check;
  };
  std::vector<Change> changes = {
      {"status", [](SpecText& s) { s.status = "disabled"; },
       [](const json& t) { EXPECT_EQ(t["status"], "disabled"); }},
      {"expiry", [](SpecText& s) { s.expiry = "2031-01-01T00:00:00Z"; },
       [](const json& t) { EXPECT_EQ(t["expiryDate"], "2031-01-01T00:00:00Z"); }},
      {"scopes",
       [](SpecText& s) {
         s.scopes = "    - name: \"app/*\"\n      type: repository\n      actions: [pull]\n";
       },
       [](const json& t) { EXPECT_EQ(t["scopes"].size(), 1u) << t.dump(); }},
  };
  SpecText current = reordered;
  for (const auto& change : changes) {
    SCOPED_TRACE(change.what);
    change.edit(current);
    WriteSpec("a.yaml", {current});
    CommandResult plan = Run("plan");
    ASSERT_EXIT_CODE(plan, 2);
    EXPECT_NE(plan.out.find("update"), std::string::npos) << plan.out;
    emu_.ClearRequests();
    ASSERT_EXIT_CODE(Run("apply"), 0);
    EXPECT_EQ(Requests("PATCH"), 1) << Log();
    EXPECT_EQ(WriteRequests(), 1) << Log();
    change.check(*Token("acme", "ci-push"));
  }
  EXPECT_EQ((*Token("acme", "ci-push"))["password"], password);  // never re-issued
  ExpectSecretWorks("acme", "ci-push");
}

TEST_F(PlanApplyE2eTest, RemovingASpecDeletesTheOwnedTokenAndSecretNeverAnUnownedOne) {
  WriteSpec("a.yaml", {{"ci-push", "acme"}, {"puller", "acme"}});
  const std::string rid = emu_.RegistryId("acme");
  HttpResult foreign =
      HttpCall("POST", emu_.base_url() + "/registries/" + rid + "/tokens",
               {{"Authorization", "Bearer t"}}, R"({"properties":{"name":"hand-made"}})");
  ASSERT_EQ(foreign.status, 201);
  ASSERT_EXIT_CODE(Run("apply"), 0);

  WriteSpec("a.yaml", {{"ci-push", "acme"}});
  CommandResult plan = Run("plan");
  ASSERT_EXIT_CODE(plan, 2);
  EXPECT_NE(plan.out.find("delete"), std::string::npos);
  emu_.ClearRequests();
  ASSERT_EXIT_CODE(Run("apply"), 0);
  EXPECT_EQ(Requests("DELETE"), 1) << Log();
  EXPECT_FALSE(Token("acme", "puller").has_value());
  EXPECT_FALSE(fs::exists(dir_ / "secrets/puller.json"));
  EXPECT_TRUE(Token("acme", "hand-made").has_value());
  ExpectSecretWorks("acme", "ci-push");

  // Even with no spec at all, the unowned token stays under --prune owned.
  WriteRaw("a.yaml", "# nothing declared\n");
  ASSERT_EXIT_CODE(Run("apply"), 0);
  EXPECT_TRUE(Token("acme", "hand-made").has_value());
  EXPECT_FALSE(Token("acme", "ci-push").has_value());
}

TEST_F(PlanApplyE2eTest, ARenamedSpecReplacesTheOldToken) {
  SpecText old_spec{"old-name", "acme"};
  old_spec.secret = "ci.json";
  WriteSpec("a.yaml", {old_spec});
  ASSERT_EXIT_CODE(Run("apply"), 0);
  SpecText new_spec = old_spec;
  new_spec.name = "new-name";
  WriteSpec("a.yaml", {new_spec});
  CommandResult apply = Run("apply");
  ASSERT_EXIT_CODE(apply, 0);
  EXPECT_FALSE(Token("acme", "old-name").has_value());
  ExpectSecretWorks("acme", "new-name", "ci.json");
  EXPECT_EQ(TokenCount("acme"), 1u);
}

TEST_F(PlanApplyE2eTest, ABrokenSpecFileDeletesNothing) {
  WriteSpec("a.yaml", {{"ci-push", "acme"}});
  WriteSpec("b.yaml", {{"deployer", "beta"}});
  ASSERT_EXIT_CODE(Run("apply"), 0);
  WriteRaw("a.yaml", "apiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\nmetadata: [oops\n");
  emu_.ClearRequests();
  CommandResult apply = Run("apply");
  ASSERT_EXIT_CODE(apply, 1);
  EXPECT_NE(apply.err.find("a.yaml"), std::string::npos) << apply.err;
  EXPECT_EQ(WriteRequests(), 0) << Log();
  ExpectSecretWorks("acme", "ci-push");
  ExpectSecretWorks("beta", "deployer");
  ASSERT_EXIT_CODE(Run("plan"), 1);
}

TEST_F(PlanApplyE2eTest, AHandDeletedSecretAndAHandDeletedTokenAreRepaired) {
  WriteSpec("a.yaml", {{"ci-push", "acme"}, {"puller", "acme"}});
  ASSERT_EXIT_CODE(Run("apply"), 0);
  const std::string old_push = (*Token("acme", "ci-push"))["password"];
  fs::remove(dir_ / "secrets/ci-push.json");
  const std::string rid = emu_.RegistryId("acme");
  const std::string puller_id = (*Token("acme", "puller"))["id"];
  ASSERT_EQ(HttpCall("DELETE", emu_.base_url() + "/registries/" + rid + "/tokens/" + puller_id,
                     {{"Authorization", "Bearer t"}})
                .status,
            204);
  CommandResult plan = Run("plan");
  ASSERT_EXIT_CODE(plan, 2);
  EXPECT_NE(plan.out.find("reissue"), std::string::npos) << plan.out;
  ASSERT_EXIT_CODE(Run("apply"), 0);
  EXPECT_NE((*Token("acme", "ci-push"))["password"], old_push);
  ExpectSecretWorks("acme", "ci-push");
  ExpectSecretWorks("acme", "puller");
  EXPECT_EQ(TokenCount("acme"), 2u);
}

TEST_F(PlanApplyE2eTest, AdoptionTakesOverAnExistingTokenByReissue) {
  const std::string rid = emu_.RegistryId("acme");
  ASSERT_EQ(HttpCall("POST", emu_.base_url() + "/registries/" + rid + "/tokens",
                     {{"Authorization", "Bearer t"}}, R"({"properties":{"name":"legacy"}})")
                .status,
            201);
  WriteSpec("a.yaml", {{"legacy", "acme"}});
  CommandResult refused = Run("apply");
  ASSERT_EXIT_CODE(refused, 1);  // not owned, not adopted: reported, left alone
  SpecText adopt{"legacy", "acme"};
  adopt.adopt = true;
  WriteSpec("a.yaml", {adopt});
  ASSERT_EXIT_CODE(Run("apply"), 0);
  ExpectSecretWorks("acme", "legacy");
  EXPECT_EQ(TokenCount("acme"), 1u);
}

// Registries POSTed to this emulator take a day of its clock to become Running.
class SlowProvisioningE2eTest : public PlanApplyE2eTest {
 protected:
  SlowProvisioningE2eTest() : PlanApplyE2eTest({"--provision-seconds", "86400"}) {}
};

TEST_F(SlowProvisioningE2eTest, ARegistryStillProvisioningGetsItsSecretOnceRunning) {
  HttpResult created =
      HttpCall("POST", emu_.base_url() + "/registries", {{"Authorization", "Bearer t"}},
               R"({"properties":{"name":"fresh","location":"de/fra"}})");
  ASSERT_EQ(created.status, 201) << created.body;
  WriteSpec("a.yaml", {{"early", "fresh"}});
  CommandResult first = Run("apply");
  ASSERT_EXIT_CODE(first, 1);
  EXPECT_NE(first.err.find("not written yet"), std::string::npos) << first.err;
  EXPECT_TRUE(Token("fresh", "early").has_value());
  EXPECT_FALSE(fs::exists(dir_ / "secrets/early.json"));

  emu_.AdvanceClock(2 * 86400);  // provisioned: Running, with a hostname
  CommandResult second = Run("apply");
  ASSERT_EXIT_CODE(second, 0);
  // The first process's password died with it: the token was re-issued, not orphaned.
  EXPECT_EQ(TokenCount("fresh"), 1u);
  ExpectSecretWorks("fresh", "early");
}

// The Kubernetes API emulator (tests/support/k8s_emulator), with its own test CA and a kubeconfig.
class KubernetesEmulator {
 public:
  explicit KubernetesEmulator(const fs::path& dir) : dir_(dir) {
    port_ = FreePort();
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("pipe");
    const std::string script =
        std::string(CRTOKEN_SOURCE_DIR) + "/tests/support/k8s_emulator/k8s_emulator.py";
    const std::string port = std::to_string(port_);
    const std::string tls = (dir_ / "tls").string();
    const std::string kubeconfig = (dir_ / "kubeconfig").string();
    std::vector<std::string> args = {"python3",     script,   "--port",           port,
                                     "--tls-dir",   tls,      "--token",          "kt",
                                     "--namespace", "team-a", "--kubeconfig-out", kubeconfig};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::close(out[0]);
      ::execvp("python3", argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    std::string line;
    pollfd pfd{out[0], POLLIN, 0};
    while (line.find('\n') == std::string::npos && ::poll(&pfd, 1, 30000) > 0) {
      char buf[256];
      ssize_t n = ::read(out[0], buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, static_cast<size_t>(n));
    }
    ::close(out[0]);
    if (line.find("listening") == std::string::npos) {
      throw std::runtime_error("k8s emulator did not start: " + line);
    }
  }
  ~KubernetesEmulator() {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
  std::string kubeconfig() const { return (dir_ / "kubeconfig").string(); }

  // The .dockerconfigjson of Secret ns/name, decoded and parsed; nullopt when there is none.
  std::optional<json> DockerConfig(const std::string& ns, const std::string& name) {
    const std::string cmd = "curl -s --cacert " + (dir_ / "tls/ca.crt").string() +
                            " https://127.0.0.1:" + std::to_string(port_) + "/_emulator/state";
    std::string text;
    if (FILE* f = ::popen(cmd.c_str(), "r")) {
      char buf[4096];
      size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
      ::pclose(f);
    }
    json state = json::parse(text);
    for (const auto& secret : state["secrets"]) {
      if (secret["metadata"]["namespace"] != ns || secret["metadata"]["name"] != name) continue;
      EXPECT_EQ(secret["type"], "kubernetes.io/dockerconfigjson");
      EXPECT_EQ(secret["metadata"]["labels"]["app.kubernetes.io/managed-by"], "crtoken");
      return json::parse(Base64Decode(secret["data"][".dockerconfigjson"]));
    }
    return std::nullopt;
  }

 private:
  static std::string Base64Decode(const std::string& in) {
    static const std::string chars =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    int val = 0, bits = -8;
    for (char c : in) {
      auto pos = chars.find(c);
      if (pos == std::string::npos) break;
      val = (val << 6) + static_cast<int>(pos);
      bits += 6;
      if (bits >= 0) {
        out.push_back(static_cast<char>((val >> bits) & 0xff));
        bits -= 8;
      }
    }
    return out;
  }

  fs::path dir_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

TEST_F(PlanApplyE2eTest, KubernetesSecretsAreWrittenAndPrunedThroughTheKubernetesApi) {
  fs::create_directories(dir_ / "k8s");
  KubernetesEmulator k8s(dir_ / "k8s");
  WriteRaw("a.yaml",
           "apiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\nmetadata:\n  name: puller\n"
           "spec:\n  registry: acme\n  scopes:\n    - name: \"*\"\n      type: repository\n"
           "      actions: [pull]\n  secret:\n    kubernetes: {namespace: team-a, name: pull}\n");
  ASSERT_EXIT_CODE(Run("apply", {}, {"--kubeconfig", k8s.kubeconfig()}), 0);
  auto config = k8s.DockerConfig("team-a", "pull");
  ASSERT_TRUE(config.has_value());
  const auto& entry = (*config)["auths"]["acme.cr.de-fra.ionos.com"];
  EXPECT_EQ(entry["username"], "puller");
  EXPECT_EQ(entry["password"], (*Token("acme", "puller"))["password"]);
  emu_.ClearRequests();
  ASSERT_EXIT_CODE(Run("plan", {}, {"--kubeconfig", k8s.kubeconfig()}), 0);

  WriteRaw("a.yaml", "# nothing declared\n");
  ASSERT_EXIT_CODE(Run("apply", {}, {"--kubeconfig", k8s.kubeconfig()}), 0);
  EXPECT_FALSE(Token("acme", "puller").has_value());
  EXPECT_FALSE(k8s.DockerConfig("team-a", "pull").has_value());
}

class CrashE2eTest : public PlanApplyE2eTest, public ::testing::WithParamInterface<const char*> {};

// A kill after the PUT or the secret write of a create, or after the DELETE of a prune (its
// secret is still there), and the next apply converges: one token per spec, working secrets, no
// token or secret of the pruned spec left.
TEST_P(CrashE2eTest, AKillAtAnyStepOfACreateOrAPruneConvergesWithNoOrphan) {
  const std::string point = GetParam();
  WriteSpec("a.yaml", {{"ci-push", "acme"}, {"puller", "acme"}});
  if (point == "after-delete") {
    WriteSpec("b.yaml", {{"old", "acme"}});
    ASSERT_EXIT_CODE(Run("apply"), 0);
    fs::remove(dir_ / "specs/b.yaml");
  }
  CommandResult crashed = Run("apply", {{"CRTOKEN_TEST_CRASH_AT", point}});
  ASSERT_EXIT_CODE(crashed, 137);
  CommandResult apply = Run("apply");
  ASSERT_EXIT_CODE(apply, 0);
  EXPECT_EQ(TokenCount("acme"), 2u);
  ExpectSecretWorks("acme", "ci-push");
  ExpectSecretWorks("acme", "puller");
  EXPECT_FALSE(fs::exists(dir_ / "secrets/old.json"));
  emu_.ClearRequests();
  ASSERT_EXIT_CODE(Run("apply"), 0);
  EXPECT_EQ(WriteRequests(), 0) << Log();
}

INSTANTIATE_TEST_SUITE_P(Steps, CrashE2eTest,
                         ::testing::Values("after-put", "after-secret", "after-delete"),
                         [](const auto& info) {
                           std::string s = info.param;
                           std::replace(s.begin(), s.end(), '-', '_');
                           return s;
                         });

TEST_F(PlanApplyE2eTest, RateLimitsAndServerErrorsDuringApplyStillConverge) {
  WriteSpec("a.yaml", {{"ci-push", "acme"}, {"puller", "acme"}});
  WriteSpec("b.yaml", {{"deployer", "beta"}});
  emu_.AddFault({{"method", "PUT"}, {"status", 429}, {"retryAfter", "1"}, {"times", 2}});
  emu_.AddFault({{"method", "GET"}, {"path", "/tokens"}, {"status", 503}, {"times", 2}});
  emu_.AddFault({{"method", "PUT"}, {"status", 502}, {"times", 1}});
  // At the most verbose log level, still no password in any output.
  CommandResult apply = Run("apply", {}, {"--log-level", "trace"});
  ASSERT_EXIT_CODE(apply, 0);
  ExpectSecretWorks("acme", "ci-push");
  ExpectSecretWorks("acme", "puller");
  ExpectSecretWorks("beta", "deployer");
  EXPECT_EQ(TokenCount("acme"), 2u);

  WriteSpec("a.yaml", {{"ci-push", "acme"}});
  emu_.AddFault({{"method", "DELETE"}, {"status", 500}, {"times", 1}});
  emu_.AddFault({{"method", "DELETE"}, {"status", 429}, {"retryAfter", "1"}, {"times", 1}});
  ASSERT_EXIT_CODE(Run("apply"), 0);
  EXPECT_FALSE(Token("acme", "puller").has_value());
}

TEST_F(PlanApplyE2eTest, ALaterPassRetriesWhatIsLeftAndTheSummaryCountsItOnce) {
  WriteSpec("a.yaml", {{"ci-push", "acme"}, {"puller", "acme"}});
  // A Retry-After beyond the client's retry budget: the first pass fails one PUT (the client gives
  // up at once), the second pass creates it.
  emu_.AddFault({{"method", "PUT"}, {"status", 429}, {"retryAfter", "3"}, {"times", 1}});
  CommandResult apply = Run("apply", {}, {"--retry-budget", "1s"});
  ASSERT_EXIT_CODE(apply, 0);
  EXPECT_NE(apply.out.find("\nretry: create acme/"), std::string::npos) << apply.out;
  EXPECT_NE(apply.out.find("Apply: 2 create, 0 reissue, 0 update, 0 delete actions"),
            std::string::npos)
      << apply.out;
  EXPECT_NE(apply.out.find("converged in "), std::string::npos) << apply.out;
  EXPECT_NE(apply.out.find("(2 passes)"), std::string::npos) << apply.out;
  EXPECT_EQ(TokenCount("acme"), 2u);
  ExpectSecretWorks("acme", "ci-push");
  ExpectSecretWorks("acme", "puller");
}

// Seconds from now to an RFC 3339 instant the emulator wrote.
long long SecondsUntil(const std::string& rfc3339) {
  auto at = ParseRfc3339(rfc3339);
  EXPECT_TRUE(at.has_value()) << rfc3339;
  const auto now =
      std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  return at ? (*at - now).count() : 0;
}

TEST_F(PlanApplyE2eTest, ALifetimeTokenIsIssuedWithItsExpiryAndRenewedBeforeIt) {
  SpecText spec("ci-push", "acme");
  spec.lifetime = "48h";
  spec.renew_before = "16h";
  WriteSpec("a.yaml", {spec});
  ASSERT_EXIT_CODE(Run("apply"), 0);
  auto first = Token("acme", "ci-push");
  ASSERT_TRUE(first.has_value());
  EXPECT_NEAR(SecondsUntil((*first)["expiryDate"]), 48 * 3600, 120);
  ExpectSecretWorks("acme", "ci-push");
  emu_.ClearRequests();
  ASSERT_EXIT_CODE(Run("apply"), 0);
  EXPECT_EQ(WriteRequests(), 0) << Log();  // not due: nothing to do, no PATCH towards a date

  // Time passes: 10 hours are left, less than renewBefore.
  std::string registry_id;
  for (const auto& r : State()["registries"]) {
    if (r["name"] == "acme") registry_id = r["id"];
  }
  const std::string soon = FormatRfc3339(
      std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now()) +
      std::chrono::hours(10));
  HttpResult patched =
      HttpCall("PATCH",
               emu_.base_url() + "/registries/" + registry_id + "/tokens/" +
                   (*first)["id"].get<std::string>(),
               {{"Authorization", "Bearer t"}, {"Content-Type", "application/json"}},
               json{{"expiryDate", soon}}.dump());
  ASSERT_EQ(patched.status, 200) << patched.body;

  CommandResult plan = Run("plan");
  ASSERT_EXIT_CODE(plan, 2);
  EXPECT_NE(plan.out.find("reissue acme/ci-push: renewal: expires " + soon), std::string::npos)
      << plan.out;
  CommandResult apply = Run("apply");
  ASSERT_EXIT_CODE(apply, 0);
  ExpectNoPasswordIn(apply);
  auto renewed = Token("acme", "ci-push");
  ASSERT_TRUE(renewed.has_value());
  EXPECT_NE((*renewed)["id"], (*first)["id"]);
  EXPECT_NE((*renewed)["password"], (*first)["password"]);
  EXPECT_NEAR(SecondsUntil((*renewed)["expiryDate"]), 48 * 3600, 120);
  EXPECT_EQ(TokenCount("acme"), 1u);
  ExpectSecretWorks("acme", "ci-push");
  emu_.ClearRequests();
  ASSERT_EXIT_CODE(Run("apply"), 0);
  EXPECT_EQ(WriteRequests(), 0) << Log();
}

TEST_F(PlanApplyE2eTest, AnUnreachableApiIsAnErrorThatChangesNothing) {
  WriteSpec("a.yaml", {{"ci-push", "acme"}});
  ASSERT_EXIT_CODE(Run("apply"), 0);
  WriteRaw("a.yaml", "# all gone\n");
  emu_.AddFault({{"method", "GET"}, {"path", "/tokens"}, {"status", 503}});  // forever
  CommandResult apply = Run("apply", {}, {"--retry-budget", "1s"});
  ASSERT_EXIT_CODE(apply, 1);
  emu_.ClearFaults();
  EXPECT_TRUE(Token("acme", "ci-push").has_value());
  ExpectSecretWorks("acme", "ci-push");
}

// Ownership is not kept in a file that can be lost or corrupted: a run from another working
// directory (no --state-dir) still knows the token it created, and prunes it with its secret.
TEST_F(PlanApplyE2eTest, AnotherWorkingDirectoryStillKnowsWhatCrtokenOwns) {
  WriteSpec("a.yaml", {{"ci-push", "acme"}, {"puller", "acme"}});
  ASSERT_EXIT_CODE(Run("apply"), 0);
  WriteSpec("a.yaml", {{"puller", "acme"}});
  emu_.ClearRequests();
  const fs::path elsewhere = dir_ / "elsewhere";
  fs::create_directories(elsewhere);
  const std::string where = elsewhere.string();
  CommandResult apply = RunCrtoken({"apply", "--specs", (dir_ / "specs").string(), "--api-url",
                                    emu_.base_url(), "--secret-dir", (dir_ / "secrets").string()},
                                   {{"IONOS_TOKEN", "t"}}, (dir_ / "out").string(),
                                   std::chrono::seconds(60), [&where] {
                                     if (::chdir(where.c_str()) != 0) ::_exit(126);
                                   });
  ASSERT_EXIT_CODE(apply, 0);
  EXPECT_TRUE(fs::is_empty(elsewhere));  // nothing written where it ran
  EXPECT_FALSE(Token("acme", "ci-push").has_value());
  EXPECT_FALSE(fs::exists(dir_ / "secrets/ci-push.json"));
  ExpectSecretWorks("acme", "puller");
  EXPECT_EQ(WriteRequests(), 1) << Log();  // the DELETE of ci-push
}

}  // namespace
}  // namespace crtoken::test
