// `crtoken run --leader-elect`: kube-controller-manager's flag names and defaults, their variables,
// the checks of the durations together and of the Lease's name at start, and the refusal of secret
// files in the specs a replica loads.
#include <gtest/gtest.h>

#include <map>

#include "daemon/app/leadership.h"
#include "daemon/app/options.h"
#include "tests/support/temp_dir.h"

namespace crtoken {
namespace {

using namespace std::chrono_literals;

EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(LeaderElectionOptionsTest, DefaultsAreKubeControllerManagers) {
  auto o = ParseOptions("run", {"--leader-elect"}, Env({}));
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_TRUE(o.value().leader_elect);
  EXPECT_EQ(o.value().leader_elect_resource_name, "crtoken");
  EXPECT_EQ(o.value().leader_elect_resource_namespace, "");  // the connection's namespace
  EXPECT_EQ(o.value().leader_elect_lease_duration, 15s);
  EXPECT_EQ(o.value().leader_elect_renew_deadline, 10s);
  EXPECT_EQ(o.value().leader_elect_retry_period, 2s);
  auto off = ParseOptions("run", {}, Env({}));
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off.value().leader_elect);
}

TEST(LeaderElectionOptionsTest, FlagsAndVariables) {
  auto o = ParseOptions(
      "run",
      {"--leader-elect", "--leader-elect-resource-name", "crtoken-a",
       "--leader-elect-resource-namespace=platform", "--leader-elect-lease-duration", "6s",
       "--leader-elect-renew-deadline", "4s", "--leader-elect-retry-period", "500ms"},
      Env({}));
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o.value().leader_elect_resource_name, "crtoken-a");
  EXPECT_EQ(o.value().leader_elect_resource_namespace, "platform");
  EXPECT_EQ(o.value().leader_elect_lease_duration, 6s);
  EXPECT_EQ(o.value().leader_elect_renew_deadline, 4s);
  EXPECT_EQ(o.value().leader_elect_retry_period, 500ms);

  auto from_env = ParseOptions("run", {},
                               Env({{"CRTOKEN_LEADER_ELECT", "true"},
                                    {"CRTOKEN_LEADER_ELECT_RESOURCE_NAME", "ha"},
                                    {"CRTOKEN_LEADER_ELECT_LEASE_DURATION", "30s"},
                                    {"CRTOKEN_LEADER_ELECT_RENEW_DEADLINE", "20s"}}));
  ASSERT_TRUE(from_env.ok()) << from_env.error().message;
  EXPECT_TRUE(from_env.value().leader_elect);
  EXPECT_EQ(from_env.value().leader_elect_resource_name, "ha");
  EXPECT_EQ(from_env.value().leader_elect_lease_duration, 30s);
  EXPECT_EQ(from_env.value().leader_elect_renew_deadline, 20s);
}

TEST(LeaderElectionOptionsTest, OnlyRunElects) {
  for (const char* command : {"plan", "apply"}) {
    auto o = ParseOptions(command, {"--leader-elect"}, Env({}));
    ASSERT_FALSE(o.ok()) << command;
    EXPECT_EQ(o.error().message, std::string("unknown flag --leader-elect for crtoken ") + command);
  }
}

TEST(LeaderElectionOptionsTest, InvalidCombinationsAreAClearErrorAtStart) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--leader-elect-renew-deadline", "15s"},
       "--leader-elect-lease-duration (15s) must be greater than --leader-elect-renew-deadline "
       "(15s): a leader must stop writing before another replica can take its Lease over"},
      {{"--leader-elect-lease-duration", "8s"},
       "--leader-elect-lease-duration (8s) must be greater than --leader-elect-renew-deadline "
       "(10s): a leader must stop writing before another replica can take its Lease over"},
      {{"--leader-elect-retry-period", "9s"},
       "--leader-elect-renew-deadline (10s) must be greater than 1.2 x "
       "--leader-elect-retry-period (9s): the leader must get more than one try to renew"},
      {{"--leader-elect-lease-duration", "2500ms", "--leader-elect-renew-deadline", "2s",
        "--leader-elect-retry-period", "1s"},
       "--leader-elect-lease-duration 2.5s must be a whole number of seconds (a Lease holds its "
       "duration in seconds)"},
      {{"--leader-elect-resource-name", "Crtoken_HA"},
       "--leader-elect-resource-name: name \"Crtoken_HA\" is not a valid Kubernetes object name "
       "(at most 253 of [a-z0-9-.], each part beginning and ending with a letter or digit)"},
      {{"--leader-elect-resource-namespace", "-ops"},
       "--leader-elect-resource-namespace: namespace \"-ops\" is not a valid Kubernetes namespace "
       "name (a DNS label: at most 63 of [a-z0-9-], beginning and ending with a letter or "
       "digit)"},
  };
  for (const Case& tc : cases) {
    std::vector<std::string> args = {"--leader-elect"};
    args.insert(args.end(), tc.args.begin(), tc.args.end());
    auto o = ParseOptions("run", args, Env({}));
    ASSERT_FALSE(o.ok()) << tc.message;
    EXPECT_EQ(o.error().kind, ErrorKind::kInvalid);
    EXPECT_EQ(o.error().message, tc.message);
  }
  auto bad = ParseOptions("run", {"--leader-elect-retry-period", "0s"}, Env({}));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message,
            "bad value for --leader-elect-retry-period \"0s\": want a positive duration such as "
            "30s, 5m, 1h or 1d");
}

TEST(LeaderElectionOptionsTest, WithoutAClusterLeaderElectionIsAStartupError) {
  auto o = ParseOptions("run", {"--leader-elect"}, Env({}));
  ASSERT_TRUE(o.ok());
  auto leadership = Leadership::Make(o.value(), Env({}), "pod-a");
  ASSERT_FALSE(leadership.ok());
  EXPECT_EQ(leadership.error().kind, ErrorKind::kInvalid);
  EXPECT_EQ(leadership.error().message.rfind("--leader-elect: no Kubernetes cluster to connect to: "
                                             "not running in a cluster (KUBERNETES_SERVICE_HOST "
                                             "is unset",
                                             0),
            0u)
      << leadership.error().message;

  test::TempDir dir("leader-kubeconfig");
  Options with_missing = o.value();
  with_missing.kubeconfig = (dir / "nope").string();
  leadership = Leadership::Make(with_missing, Env({}), "pod-a");
  ASSERT_FALSE(leadership.ok());
  EXPECT_EQ(leadership.error().message,
            "--leader-elect: kubeconfig \"" + with_missing.kubeconfig + "\" does not exist");
}

TokenSpec Spec(const std::string& name, const std::string& file, int line, bool to_file) {
  TokenSpec s;
  s.name = name;
  s.registry = "acme";
  s.source = SourceLocation{file, line, 9};
  s.secret.kind = to_file ? SecretRef::Kind::kFile : SecretRef::Kind::kKubernetes;
  s.secret.file = name + ".json";
  s.secret.k8s_namespace = "team-a";
  s.secret.k8s_name = name;
  return s;
}

TEST(LeaderElectionOptionsTest, SecretFilesAreRefusedAsSpecErrorsAndTheirFilesFail) {
  SpecSnapshot snap;
  snap.desired.specs = {Spec("ci-push", "specs/ci.yaml", 4, true),
                        Spec("ci-pull", "specs/ci.yaml", 14, false),
                        Spec("web-pull", "specs/web.yaml", 4, false)};
  RefuseFileSecrets(snap);
  ASSERT_EQ(snap.errors.size(), 1u);
  EXPECT_EQ(snap.errors[0].ToString(),
            "specs/ci.yaml:4:9: token ci-push: secret.file is refused with --leader-elect: each "
            "replica has its own --secret-dir, so a replica that takes over would find no secret "
            "and re-issue the token; write a Kubernetes Secret (secret.kubernetes), or run one "
            "replica without --leader-elect");
  // The file fails as a whole (nothing in it is acted on, nothing is pruned while it fails);
  // the other file's specs stay.
  ASSERT_EQ(snap.desired.specs.size(), 1u);
  EXPECT_EQ(snap.desired.specs[0].name, "web-pull");
  EXPECT_EQ(snap.desired.failed_files, std::set<std::string>{"specs/ci.yaml"});

  SpecSnapshot clean;
  clean.desired.specs = {Spec("web-pull", "specs/web.yaml", 4, false)};
  RefuseFileSecrets(clean);
  EXPECT_TRUE(clean.errors.empty());
  EXPECT_EQ(clean.desired.specs.size(), 1u);
  EXPECT_TRUE(clean.desired.failed_files.empty());
}

}  // namespace
}  // namespace crtoken
