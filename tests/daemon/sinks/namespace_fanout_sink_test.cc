// NamespaceFanOutSink over the Kubernetes Secret sink, against the Kubernetes API emulator
// (tests/support/k8s_emulator): end states are read back through the emulator's API.
#include "daemon/sinks/namespace_fanout_sink.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "daemon/common/base64.h"
#include "daemon/sinks/kubernetes_secret_sink.h"
#include "reconciler/token_id.h"
#include "tests/support/k8s_emulator/k8s_emulator_process.h"

namespace crtoken {
namespace {

using nlohmann::json;

constexpr char kToken[] = "fanout-sink-token";
constexpr char kOwner[] = "crtoken";
constexpr char kRegistryId[] = "3f1d2c4b-0000-4000-8000-000000000001";

class NamespaceFanOutSinkTest : public ::testing::Test {
 protected:
  NamespaceFanOutSinkTest()
      : k8s_(CRTOKEN_PYTHON,
             std::string(CRTOKEN_SOURCE_DIR) + "/tests/support/k8s_emulator/k8s_emulator.py",
             {"--token", kToken, "--namespace", "team-a,pull=yes", "--namespace", "team-b,pull=yes",
              "--namespace", "team-c", "--kubeconfig-out", (k8s_dir_ / "kubeconfig").string()}) {}

  void SetUp() override {
    ASSERT_TRUE(k8s_.started()) << k8s_.first_line();
    const std::string kubeconfig = (k8s_dir_ / "kubeconfig").string();
    auto inner = MakeKubernetesSecretSink(kubeconfig);
    ASSERT_TRUE(inner.ok()) << inner.error().ToString();
    auto client = MakeKubeClient(kubeconfig, "", {}, "fan-out test");
    ASSERT_TRUE(client.ok()) << client.error().ToString();
    FanOutOptions options;
    options.on_results = [this](const std::map<std::string, int>& counts) { counts_ = counts; };
    sink_ = std::make_unique<NamespaceFanOutSink>(std::move(inner.value()),
                                                  std::move(client.value()), options);
  }

  static SecretRef Selector(const std::string& key, const std::string& value) {
    SecretRef ref;
    ref.kind = SecretRef::Kind::kKubernetes;
    ref.k8s_name = "pull";
    ref.k8s_selector = LabelSelector{{{key, value}}, {}};
    return ref;
  }
  static SecretRef List(std::vector<std::string> namespaces) {
    SecretRef ref;
    ref.kind = SecretRef::Kind::kKubernetes;
    ref.k8s_name = "pull";
    ref.k8s_namespaces = std::move(namespaces);
    return ref;
  }
  static SecretRef Plain(const std::string& ns) {
    SecretRef ref;
    ref.kind = SecretRef::Kind::kKubernetes;
    ref.k8s_namespace = ns;
    ref.k8s_name = "pull";
    return ref;
  }
  static SecretRecord Record(uint16_t generation) {
    return SecretRecord{kOwner, kRegistryId, "puller",
                        OwnedTokenId(kOwner, kRegistryId, "puller", generation)};
  }
  static DockerCredential Credential(const std::string& password, uint16_t generation = 0) {
    return DockerCredential{"acme.cr.example", "puller", Password(password), Record(generation)};
  }

  std::pair<int, json> Api(const std::string& method, const std::string& path,
                           const json& body = nullptr) {
    return k8s_.Api(method, path, kToken, body);
  }
  // The namespaces holding a Secret named pull.
  std::set<std::string> Copies() {
    std::set<std::string> out;
    auto [status, list] = Api("GET", "/api/v1/secrets?fieldSelector=metadata.name%3Dpull");
    EXPECT_EQ(status, 200) << list.dump();
    for (const json& item : list["items"]) out.insert(item["metadata"]["namespace"]);
    return out;
  }
  std::string PasswordIn(const std::string& ns) {
    auto [status, secret] = Api("GET", "/api/v1/namespaces/" + ns + "/secrets/pull");
    if (status != 200) return "";
    auto decoded = Base64Decode(secret["data"][".dockerconfigjson"].get<std::string>());
    return json::parse(*decoded)["auths"]["acme.cr.example"]["password"];
  }
  void CreateServiceAccount(const std::string& ns, const std::string& name, json pull_secrets) {
    json sa = {{"apiVersion", "v1"}, {"kind", "ServiceAccount"}, {"metadata", {{"name", name}}}};
    if (!pull_secrets.is_null()) sa["imagePullSecrets"] = std::move(pull_secrets);
    auto [status, body] = Api("POST", "/api/v1/namespaces/" + ns + "/serviceaccounts", sa);
    ASSERT_EQ(status, 201) << body.dump();
  }
  json ServiceAccount(const std::string& ns, const std::string& name) {
    return Api("GET", "/api/v1/namespaces/" + ns + "/serviceaccounts/" + name).second;
  }
  static std::vector<std::string> Names(const json& sa) {
    std::vector<std::string> out;
    if (!sa.contains("imagePullSecrets")) return out;
    for (const json& e : sa["imagePullSecrets"]) out.push_back(e["name"]);
    return out;
  }

  test::TempDir k8s_dir_{"fanout-sink"};
  test::K8sEmulatorProcess k8s_;
  std::unique_ptr<NamespaceFanOutSink> sink_;
  std::map<std::string, int> counts_;
};

TEST_F(NamespaceFanOutSinkTest, WritesEveryMatchingNamespaceAndListsTheCopiesAsOnePlace) {
  const SecretRef place = Selector("pull", "yes");
  ASSERT_TRUE(sink_->Write(place, Credential("pw-0")).ok());
  EXPECT_EQ(Copies(), (std::set<std::string>{"team-a", "team-b"}));
  EXPECT_EQ(PasswordIn("team-a"), "pw-0");
  EXPECT_EQ(PasswordIn("team-b"), "pw-0");
  EXPECT_EQ(counts_["written"], 2);
  // A single Secret of the same name elsewhere stays a place of its own.
  ASSERT_TRUE(sink_->Write(Plain("team-c"), Credential("pw-0")).ok());

  auto listed = sink_->List(kOwner);
  ASSERT_TRUE(listed.ok()) << listed.error().ToString();
  ASSERT_EQ(listed.value().size(), 2u);
  std::set<SecretRef> refs;
  for (const ListedSecret& s : listed.value()) {
    refs.insert(s.ref);
    EXPECT_EQ(s.record, Record(0));
  }
  EXPECT_EQ(refs, (std::set<SecretRef>{place, Plain("team-c")}));
}

TEST_F(NamespaceFanOutSinkTest, DeleteRemovesOnlyTheCopiesOfItsOwnPlace) {
  const SecretRef place = Selector("pull", "yes");
  ASSERT_TRUE(sink_->Write(place, Credential("pw-0")).ok());
  ASSERT_TRUE(sink_->Write(Plain("team-c"), Credential("pw-0")).ok());
  // The single Secret team-a/pull is not the plain ref's to delete: it is a copy of the place.
  ASSERT_TRUE(sink_->Delete(Plain("team-a")).ok());
  EXPECT_EQ(Copies(), (std::set<std::string>{"team-a", "team-b", "team-c"}));
  // Another target set is another place: it deletes nothing of this one.
  ASSERT_TRUE(sink_->Delete(List({"team-a", "team-b"})).ok());
  EXPECT_EQ(Copies(), (std::set<std::string>{"team-a", "team-b", "team-c"}));
  ASSERT_TRUE(sink_->Delete(place).ok());
  EXPECT_EQ(Copies(), (std::set<std::string>{"team-c"}));
}

TEST_F(NamespaceFanOutSinkTest, InspectSeesTheNewestCopyAndNoTargetIsAConflict) {
  const SecretRef place = List({"team-a", "team-b"});
  ASSERT_TRUE(sink_->Write(place, Credential("pw-0")).ok());
  // A copy deleted by hand is no lost password: another copy still records the token.
  ASSERT_EQ(Api("DELETE", "/api/v1/namespaces/team-a/secrets/pull").first, 200);
  auto state = sink_->Inspect(place);
  ASSERT_TRUE(state.ok()) << state.error().ToString();
  EXPECT_TRUE(state.value().has_password);
  EXPECT_EQ(state.value().record, Record(0));
  EXPECT_TRUE(state.value().conflict.empty());
  // No copy at all: not delivered.
  ASSERT_EQ(Api("DELETE", "/api/v1/namespaces/team-b/secrets/pull").first, 200);
  state = sink_->Inspect(place);
  ASSERT_TRUE(state.ok());
  EXPECT_FALSE(state.value().exists);
  // No namespace can hold it: a conflict naming why, before any token is made for it.
  state = sink_->Inspect(List({"gone"}));
  ASSERT_TRUE(state.ok());
  EXPECT_NE(state.value().conflict.find("gone missing"), std::string::npos)
      << state.value().conflict;
  EXPECT_FALSE(sink_->Write(List({"gone"}), Credential("pw-0")).ok());
}

TEST_F(NamespaceFanOutSinkTest,
       ReplicateCopiesTheRecordedPasswordAndDropsNamespacesNoLongerTargeted) {
  const SecretRef place = Selector("pull", "yes");
  ASSERT_TRUE(sink_->Write(place, Credential("pw-0")).ok());
  ASSERT_EQ(Api("DELETE", "/api/v1/namespaces/team-b/secrets/pull").first, 200);
  json label = {{"metadata", {{"labels", {{"pull", "yes"}}}}}};
  auto [status, body] =
      k8s_.Api("PATCH", "/api/v1/namespaces/team-c", kToken, label, "application/merge-patch+json");
  ASSERT_EQ(status, 200) << body.dump();
  json unlabel = {{"metadata", {{"labels", {{"pull", nullptr}}}}}};
  std::tie(status, body) = k8s_.Api("PATCH", "/api/v1/namespaces/team-a", kToken, unlabel,
                                    "application/merge-patch+json");
  ASSERT_EQ(status, 200) << body.dump();

  // The one copy left is in a namespace no longer targeted: still the token's password, found.
  auto state = sink_->Inspect(place);
  ASSERT_TRUE(state.ok());
  EXPECT_TRUE(state.value().has_password);
  EXPECT_EQ(state.value().record, Record(0));
  ASSERT_TRUE(sink_->Replicate(place, Record(0)).ok());
  EXPECT_EQ(Copies(), (std::set<std::string>{"team-b", "team-c"}));
  EXPECT_EQ(PasswordIn("team-b"), "pw-0");
  EXPECT_EQ(PasswordIn("team-c"), "pw-0");
  // Nothing records another token: nothing to copy from (the caller re-issues).
  Status other = sink_->Replicate(place, Record(1));
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().kind, ErrorKind::kNotFound);
}

TEST_F(NamespaceFanOutSinkTest, ServiceAccountsGainTheSecretKeepOthersAndLoseOnlyCrtokensEntry) {
  CreateServiceAccount("team-a", "default", json::array({{{"name", "their-own"}}}));
  SecretRef place = List({"team-a", "team-b"});
  place.service_accounts = {"default"};
  // team-b has no ServiceAccount default yet: waited for, not an error.
  ASSERT_TRUE(sink_->Write(place, Credential("pw-0")).ok());
  EXPECT_EQ(Names(ServiceAccount("team-a", "default")),
            (std::vector<std::string>{"their-own", "pull"}));
  CreateServiceAccount("team-b", "default", nullptr);
  ASSERT_TRUE(sink_->Replicate(place, Record(0)).ok());
  EXPECT_EQ(Names(ServiceAccount("team-b", "default")), (std::vector<std::string>{"pull"}));

  ASSERT_TRUE(sink_->Delete(place).ok());
  const json sa = ServiceAccount("team-a", "default");
  EXPECT_EQ(Names(sa), (std::vector<std::string>{"their-own"}));
  EXPECT_FALSE(sa["metadata"].contains("annotations") &&
               sa["metadata"]["annotations"].contains("crtoken.io/image-pull-secrets"));
  EXPECT_TRUE(Names(ServiceAccount("team-b", "default")).empty());
}

TEST_F(NamespaceFanOutSinkTest, AForbiddenNamespaceIsReportedAndDoesNotStopTheOthers) {
  auto [status, body] =
      Api("POST", "/_emulator/forbid", json{{"namespaces", json::array({"team-b"})}});
  ASSERT_LT(status, 300) << body.dump();
  const SecretRef place = Selector("pull", "yes");
  ASSERT_TRUE(sink_->Write(place, Credential("pw-0")).ok());
  EXPECT_EQ(Copies(), (std::set<std::string>{"team-a"}));
  EXPECT_EQ(sink_->Results()[place.ToString()],
            (NamespaceResults{{"team-a", "written"}, {"team-b", "forbidden"}}));
  EXPECT_EQ(counts_["forbidden"], 1);
  Status replicated = sink_->Replicate(place, Record(0));
  ASSERT_FALSE(replicated.ok());
  EXPECT_NE(replicated.error().message.find("namespace team-b"), std::string::npos)
      << replicated.error().message;
  // No namespace writable at all: the write fails (the caller keeps the password).
  EXPECT_FALSE(sink_->Write(List({"team-b"}), Credential("pw-0")).ok());
}

}  // namespace
}  // namespace crtoken
