// `crtoken run --leader-elect` with two replicas: two real crtoken processes that share nothing but
// the registry (crtoken-emulator) and the Kubernetes API (the Kubernetes API emulator, holding the
// Lease and the Secrets), each with its own secret directory and its own credentials, so that the
// emulators tell their writes apart: replica-1 logs in to the registry API as user replica-1 and
// to Kubernetes with the test CA's client certificate (user crtoken-client), replica-2 as
// replica-2 and with a bearer token (user token-user). Short durations: a 3 s lease, a 2 s renew
// deadline, a 500 ms retry period. Every scenario ends with every declared token existing once and
// every Secret holding its token's password.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
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

constexpr char kKubeToken[] = "kt-leader-e2e";
constexpr auto kLease = 3s;
constexpr auto kRetry = 500ms;
// The leader gauge of an elected replica names its Lease.
constexpr char kLeader[] = "crtoken_leader{lease=\"crtoken/crtoken\"}";

struct Replica {
  std::string user;       // its registry API user (createdBy of the tokens it creates)
  std::string kube_user;  // who the Kubernetes API emulator logs it as
  fs::path dir;
  int metrics_port = FreePort();
  int health_port = FreePort();
  std::unique_ptr<DaemonProcess> process;

  double Metric(const std::string& series) const { return ScrapeMetric(metrics_port, series); }
  bool Leads() const { return Metric(kLeader) == 1; }
  std::string Log() const { return process ? process->Log() : ""; }
  // The identity it logged at start ("leader election ... identity=HOST_SUFFIX").
  std::string Identity() const {
    std::smatch m;
    const std::string log = Log();
    static const std::regex re("leader election .*identity=([^ ]+)");
    return std::regex_search(log, m, re) ? m[1].str() : "";
  }
};

class LeaderElectionE2eTest : public ::testing::Test {
 protected:
  LeaderElectionE2eTest()
      : dir_("crtoken-leader-e2e"),
        k8s_(CRTOKEN_PYTHON,
             std::string(CRTOKEN_SOURCE_DIR) + "/tests/support/k8s_emulator/k8s_emulator.py",
             {"--token", kKubeToken, "--namespace", "crtoken", "--namespace", "team-a",
              "--kubeconfig-out", (dir_ / "kubeconfig-token").string()}) {
    fs::create_directories(dir_ / "specs");
  }

  void SetUp() override {
    ASSERT_TRUE(k8s_.started()) << k8s_.first_line();
    // No credential flag: the emulator accepts any user, and records who created each token.
    emu_ = std::make_unique<EmulatorProcess>(std::vector<std::string>{"--registry", "acme"});
    // replica-1 authenticates to Kubernetes with the test CA's client certificate.
    const fs::path tls = k8s_.dir() / "tls";
    WriteFile(dir_ / "kubeconfig-cert",
              "apiVersion: v1\nkind: Config\nclusters:\n- name: emulator\n  cluster:\n"
              "    server: " +
                  k8s_.Server() + "\n    certificate-authority: " + (tls / "ca.crt").string() +
                  "\nusers:\n- name: cert-user\n  user:\n    client-certificate: " +
                  (tls / "client.crt").string() +
                  "\n    client-key: " + (tls / "client.key").string() +
                  "\ncontexts:\n- name: emulator\n  context:\n    cluster: emulator\n"
                  "    user: cert-user\n    namespace: default\ncurrent-context: emulator\n");
    for (int i : {1, 2}) {
      Replica& r = R(i);
      r.user = "replica-" + std::to_string(i);
      r.kube_user = i == 1 ? "crtoken-client" : "token-user";
      r.dir = dir_ / r.user;
    }
  }

  void TearDown() override {
    if (HasFailure()) {
      for (const Replica& r : replicas_) std::cerr << "---- " << r.user << " ----\n" << r.Log();
    }
  }

  Replica& R(int i) { return replicas_[i - 1]; }

  void Start(int i) {
    Replica& r = R(i);
    fs::create_directories(r.dir);
    const std::string kubeconfig = (dir_ / (i == 1 ? "kubeconfig-cert" : "kubeconfig-token"));
    r.process =
        StartDaemon({dir_ / "specs", emu_->base_url(), r.dir, r.metrics_port, r.health_port},
                    {"--leader-elect", "--leader-elect-resource-namespace", "crtoken",
                     "--leader-elect-lease-duration", "3s", "--leader-elect-renew-deadline", "2s",
                     "--leader-elect-retry-period", "500ms", "--prune-settle", "1s", "--kubeconfig",
                     kubeconfig},
                    {{"IONOS_USERNAME", r.user}, {"IONOS_PASSWORD", "pw-" + r.user}});
  }

  // replica-1 leads and replica-2 stands by, both ready, and every declared token converged.
  void StartBothWithTheFirstLeading(const std::vector<std::string>& tokens) {
    Start(1);
    ASSERT_TRUE(WaitUntil([&] { return R(1).Leads(); })) << "replica-1 never led";
    Start(2);
    ASSERT_TRUE(WaitUntil([&] { return GetLocal(R(2).health_port, "/readyz") == 200; }))
        << "the standby never became ready";
    EXPECT_EQ(R(2).Metric(kLeader), 0);
    ASSERT_TRUE(WaitUntil([&] { return Converged(tokens); })) << StateText();
  }

  // A spec file per token (adding one never rewrites another), its Secret team-a/NAME.
  void Declare(const std::string& name, const std::string& secret = "") {
    WriteFile(
        dir_ / "specs" / (name + ".yaml"),
        "apiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\nmetadata:\n  name: " + name +
            "\nspec:\n  registry: acme\n  scopes:\n    - {name: \"*\", type: repository, "
            "actions: [pull]}\n  secret:\n    " +
            (secret.empty() ? "kubernetes: {namespace: team-a, name: " + name + "}" : secret) +
            "\n");
  }

  json Kube(const std::string& method, const std::string& path) {
    auto [status, body] = k8s_.Api(method, path, kKubeToken);
    return status == 200 ? body : json();
  }
  json Lease() {
    return Kube("GET", "/apis/coordination.k8s.io/v1/namespaces/crtoken/leases/crtoken");
  }

  // The registry's tokens named `name` (each with its password, from the emulator's state).
  std::vector<json> Tokens(const std::string& name) {
    std::vector<json> out;
    const json state = emu_->StateJson();
    for (const auto& r : state["registries"]) {
      for (const auto& t : r["tokens"]) {
        if (t["name"] == name) out.push_back(t);
      }
    }
    return out;
  }
  std::string StateText() { return emu_->StateJson().dump(); }

  // The password in Secret team-a/NAME (empty when there is none).
  std::string SecretPassword(const std::string& name) {
    const json secret = Kube("GET", "/api/v1/namespaces/team-a/secrets/" + name);
    if (!secret.is_object() || !secret.contains("data")) return "";
    auto text = Base64Decode(secret["data"].value(".dockerconfigjson", ""));
    if (!text) return "";
    const json config = json::parse(*text, nullptr, false);
    if (!config.is_object()) return "";
    return config["auths"]["acme.cr.de-fra.ionos.com"].value("password", "");
  }

  // Every token of `names` exists exactly once and its Secret holds its password.
  bool Converged(const std::vector<std::string>& names) {
    for (const std::string& name : names) {
      auto tokens = Tokens(name);
      if (tokens.size() != 1) return false;
      const std::string password = tokens[0].value("password", "");
      if (password.empty() || SecretPassword(name) != password) return false;
    }
    return true;
  }

  // Who created the token (its metadata.createdBy, read through the API).
  std::string CreatedBy(const std::string& name) {
    auto tokens = Tokens(name);
    if (tokens.size() != 1) return "";
    HttpResult r = HttpCall("GET",
                            emu_->base_url() + "/registries/" + emu_->RegistryId("acme") +
                                "/tokens/" + tokens[0]["id"].get<std::string>(),
                            {{"Authorization", BasicAuth("test", "test")}});
    const json token = json::parse(r.body, nullptr, false);
    return token.is_object() ? token["metadata"].value("createdBy", "") : "";
  }

  // Writes to Secrets in the Kubernetes API emulator's request log from `from` on, by user.
  std::map<std::string, int> SecretWritesByUser(size_t from = 0) {
    std::map<std::string, int> out;
    auto [status, log] = k8s_.Api("GET", "/_emulator/requests", kKubeToken);
    if (status != 200 || !log.is_array()) return out;
    for (size_t i = from; i < log.size(); ++i) {
      const json& e = log[i];
      if (e["method"] != "GET" &&
          e["path"].get<std::string>().find("/secrets") != std::string::npos) {
        ++out[e["user"].get<std::string>()];
      }
    }
    return out;
  }
  size_t KubeLogSize() {
    auto [status, log] = k8s_.Api("GET", "/_emulator/requests", kKubeToken);
    return log.is_array() ? log.size() : 0;
  }
  // Registry writes (PUT, PATCH, DELETE, POST) in the emulator's request log from `from` on.
  int RegistryWrites(size_t from = 0) {
    auto log = emu_->Requests();
    int n = 0;
    for (size_t i = from; i < log.size(); ++i) n += log[i].method != "GET";
    return n;
  }

  TempDir dir_;
  K8sEmulatorProcess k8s_;
  std::unique_ptr<EmulatorProcess> emu_;
  Replica replicas_[2];
};

TEST_F(LeaderElectionE2eTest, TwoReplicasOneLeadsAndOnlyItWrites) {
  Declare("pull-a");
  Declare("pull-b");
  StartBothWithTheFirstLeading({"pull-a", "pull-b"});

  // kubectl shows the Lease and its holder: replica-1's identity.
  const std::string identity = R(1).Identity();
  ASSERT_FALSE(identity.empty()) << R(1).Log();
  CommandResult kubectl = RunProgram(
      "/usr/bin/kubectl",
      {"get", "lease", "-n", "crtoken", "--cache-dir", (dir_ / "kubectl-cache").string()},
      {{"KUBECONFIG", (dir_ / "kubeconfig-token").string()}, {"HOME", dir_.path().string()}},
      dir_.path().string(), 60s);
  ASSERT_EQ(kubectl.exit_code, 0) << kubectl.err;
  EXPECT_TRUE(std::regex_search(kubectl.out, std::regex("\ncrtoken +" + identity + " ")))
      << kubectl.out;
  const json lease = Lease();
  EXPECT_EQ(lease["spec"]["holderIdentity"], identity);
  EXPECT_EQ(lease["spec"]["leaseDurationSeconds"], 3);
  EXPECT_EQ(R(2).Metric(kLeader), 0);
  EXPECT_EQ(R(1).Metric("crtoken_leadership_changes_total{change=\"gained\"}"), 1);

  // A spec added later is reconciled by the leader too; a file secret is refused by both.
  Declare("pull-c");
  Declare("to-file", "file: to-file.json");
  ASSERT_TRUE(WaitUntil([&] { return Converged({"pull-a", "pull-b", "pull-c"}); })) << StateText();
  for (const char* name : {"pull-a", "pull-b", "pull-c"}) {
    EXPECT_EQ(CreatedBy(name), "replica-1") << name;
  }
  const auto writers = SecretWritesByUser();
  ASSERT_EQ(writers.size(), 1u);
  EXPECT_EQ(writers.begin()->first, "crtoken-client");  // replica-1
  EXPECT_GE(writers.begin()->second, 3);
  EXPECT_TRUE(Tokens("to-file").empty());
  for (int i : {1, 2}) {
    ASSERT_TRUE(WaitUntil([&] { return R(i).Metric("crtoken_spec_errors") == 1; }));
    EXPECT_NE(R(i).Log().find("to-file.yaml:4:9: token to-file: secret.file is refused with "
                              "--leader-elect"),
              std::string::npos);
  }
  EXPECT_EQ(R(2).Log().find(": done"), std::string::npos) << "the standby acted";
  EXPECT_EQ(R(2).Metric("crtoken_reconcile_total{result=\"success\"}"), 0);
}

TEST_F(LeaderElectionE2eTest, AfterKillNineAStandbyReconcilesANewSpec) {
  Declare("pull-a");
  StartBothWithTheFirstLeading({"pull-a"});
  const std::string first = R(1).Identity();
  const std::string second = R(2).Identity();

  R(1).process->Signal(SIGKILL);
  ASSERT_TRUE(R(1).process->Wait(10s).has_value());
  Declare("pull-b");
  // Within the lease duration and a few retry periods (and the pass itself).
  const auto deadline = kLease + 8 * kRetry + 5s;
  ASSERT_TRUE(WaitUntil([&] { return Converged({"pull-a", "pull-b"}); }, deadline)) << StateText();
  const json lease = Lease();
  EXPECT_EQ(lease["spec"]["holderIdentity"], second);
  EXPECT_EQ(lease["spec"]["leaseTransitions"], 1);
  EXPECT_EQ(R(2).Metric(kLeader), 1);
  EXPECT_EQ(CreatedBy("pull-a"), "replica-1");
  EXPECT_EQ(CreatedBy("pull-b"), "replica-2");
  EXPECT_NE(R(2).Log().find("leadership gained: " + second +
                            " holds Lease crtoken/crtoken (the "
                            "lease of " +
                            first + " expired"),
            std::string::npos);
}

TEST_F(LeaderElectionE2eTest, ALeaderPausedPastItsLeaseSendsNoWriteWhenItResumes) {
  Declare("pull-a");
  StartBothWithTheFirstLeading({"pull-a"});
  const std::string second = R(2).Identity();

  // Every read of Secret pull-b answers 3 s late: replica-1 creates token pull-b, then stops
  // (SIGSTOP) inside its write of the Secret, after the read and before the write proper.
  auto [fault_status, fault] =
      k8s_.Api("POST", "/_emulator/faults", kKubeToken,
               {{"methods", {"GET"}}, {"path", "/secrets/pull-b"}, {"delay", 3}, {"count", 1000}});
  ASSERT_EQ(fault_status, 201) << fault.dump();
  Declare("pull-b");
  ASSERT_TRUE(WaitUntil([&] { return Tokens("pull-b").size() == 1; })) << StateText();
  R(1).process->Signal(SIGSTOP);
  EXPECT_EQ(CreatedBy("pull-b"), "replica-1");

  // The standby takes over and repairs what was left half done: the token whose password never
  // reached a Secret is issued again, under the next generation, and its Secret written.
  ASSERT_TRUE(WaitUntil([&] {
    return R(2).Leads() && Converged({"pull-a", "pull-b"});
  })) << StateText();
  EXPECT_EQ(CreatedBy("pull-b"), "replica-2");
  const std::string password = Tokens("pull-b")[0]["password"];
  k8s_.Api("DELETE", "/_emulator/faults", kKubeToken);
  // Its verifying pass comes 2 s after its writes: wait for it, so that it writes nothing later.
  ASSERT_TRUE(WaitUntil([&] {
    return R(2).Log().find("reconcile pass done registry=acme registries=1 actions=0") !=
           std::string::npos;
  }));
  const size_t registry_log = emu_->Requests().size();
  const size_t kube_log = KubeLogSize();

  auto passes_done = [](const std::string& log) {
    size_t n = 0;
    for (size_t at = log.find("reconcile pass done"); at != std::string::npos;
         at = log.find("reconcile pass done", at + 1)) {
      ++n;
    }
    return n;
  };
  const size_t passes_before = passes_done(R(1).Log());

  R(1).process->Signal(SIGCONT);
  // It resumes inside its Secret write, with a read from before the takeover; the pass ends, and it
  // steps down.
  ASSERT_TRUE(WaitUntil([&] {
    return passes_done(R(1).Log()) > passes_before &&
           R(1).Log().find("leadership lost: ") != std::string::npos && R(1).Metric(kLeader) == 0;
  })) << R(1).Log();
  // Long enough for anything it still had to send: a retry period and the backoff of its pass.
  std::this_thread::sleep_for(2 * kLease);
  EXPECT_EQ(RegistryWrites(registry_log), 0);
  EXPECT_TRUE(SecretWritesByUser(kube_log).empty());
  EXPECT_TRUE(Converged({"pull-a", "pull-b"})) << StateText();
  EXPECT_EQ(SecretPassword("pull-b"), password);
  // Its Secret write read the Secret and then met the fence: a POST when it read nothing, a PUT
  // when it read what replica-2 wrote meanwhile.
  static const std::regex refused(
      "kubernetes (POST|PUT) /api/v1/namespaces/team-a/secrets[^ ]*: not sent: not the leader");
  EXPECT_TRUE(std::regex_search(R(1).Log(), refused)) << R(1).Log();
  EXPECT_EQ(Lease()["spec"]["holderIdentity"], second);
  EXPECT_EQ(R(1).Metric(kLeader), 0);
  EXPECT_EQ(R(1).Metric("crtoken_leadership_changes_total{change=\"lost\"}"), 1);
}

TEST_F(LeaderElectionE2eTest, OnSigtermTheLeaderReleasesTheLeaseAndAStandbyTakesItAtOnce) {
  Declare("pull-a");
  StartBothWithTheFirstLeading({"pull-a"});
  const std::string second = R(2).Identity();

  R(1).process->Signal(SIGTERM);
  const auto exit_code = R(1).process->Wait(30s);
  ASSERT_TRUE(exit_code.has_value());
  EXPECT_EQ(*exit_code, 0);
  EXPECT_NE(R(1).Log().find("leadership released: "), std::string::npos);
  ASSERT_TRUE(WaitUntil([&] { return R(2).Leads(); }));
  const json lease = Lease();
  EXPECT_EQ(lease["spec"]["holderIdentity"], second);
  EXPECT_EQ(lease["spec"]["leaseTransitions"], 1);
  EXPECT_NE(R(2).Log().find("holds Lease crtoken/crtoken (it was free"), std::string::npos);
  // Taken at the standby's next try (a retry period, 600 ms at most with jitter) after the
  // release, not after an expiry (a lease duration after the last renewal); the Lease's times and
  // the log's are this machine's wall clock.
  auto wall = [](const std::string& text) {
    std::tm tm{};
    if (strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) == nullptr) {
      return std::chrono::system_clock::time_point{};
    }
    const size_t dot = text.find('.');
    const std::string fraction = text.substr(dot + 1, text.find('Z') - dot - 1);
    return std::chrono::system_clock::from_time_t(timegm(&tm)) +
           std::chrono::microseconds(std::stol((fraction + "000000").substr(0, 6)));
  };
  std::smatch released;
  const std::string log = R(1).Log();
  ASSERT_TRUE(std::regex_search(log, released, std::regex("\\n([^ ]+) info  leadership released")));
  const std::string acquired = lease["spec"]["acquireTime"];
  EXPECT_LT(wall(acquired) - wall(released[1].str()), kLease / 2)
      << acquired << " vs " << released[1].str();

  Declare("pull-b");
  ASSERT_TRUE(WaitUntil([&] { return Converged({"pull-a", "pull-b"}); })) << StateText();
  EXPECT_EQ(CreatedBy("pull-b"), "replica-2");
}

// The ownership.json of an earlier version is migrated by one crtoken without --leader-elect: a
// replica refuses to start on it (each would try, and none holds the Lease yet), says what to do,
// and touches nothing.
TEST_F(LeaderElectionE2eTest, AReplicaRefusesAStateDirectoryStillToMigrate) {
  Declare("pull-a");
  const fs::path state = dir_ / "state";
  fs::create_directories(state);
  fs::copy_file(fs::path(CRTOKEN_SOURCE_DIR) / "tests/daemon/app/legacy/ownership.json",
                state / "ownership.json");
  const std::string before = ReadFile(state / "ownership.json");
  fs::create_directories(dir_ / "out");
  CommandResult run =
      RunCrtoken({"run", "--leader-elect", "--leader-elect-resource-namespace", "crtoken",
                  "--specs", (dir_ / "specs").string(), "--api-url", emu_->base_url(),
                  "--secret-dir", (dir_ / "secrets").string(), "--state-dir", state.string(),
                  "--kubeconfig", (dir_ / "kubeconfig-token").string(), "--metrics-addr",
                  "127.0.0.1:0", "--health-addr", "127.0.0.1:0"},
                 {{"IONOS_TOKEN", "t"}}, (dir_ / "out").string(), 30s);
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_NE(run.err.find("--leader-elect: " + (state / "ownership.json").string() +
                         " holds the ownership records of an earlier version; migrate them once "
                         "with `crtoken apply` (or `crtoken run` without --leader-elect) and the "
                         "same --state-dir, then start the replicas"),
            std::string::npos)
      << run.err;
  EXPECT_EQ(ReadFile(state / "ownership.json"), before);
  EXPECT_FALSE(fs::exists(state / "ownership.json.migrated"));
  EXPECT_EQ(RegistryWrites(), 0);
  auto [status, body] =
      k8s_.Api("GET", "/apis/coordination.k8s.io/v1/namespaces/crtoken/leases/crtoken", kKubeToken);
  EXPECT_EQ(status, 404) << body.dump();
}

}  // namespace
}  // namespace crtoken::test
