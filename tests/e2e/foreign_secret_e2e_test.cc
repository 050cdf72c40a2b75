// A secret target crtoken must not write (a Kubernetes Secret without the managed-by label, a
// directory where a secret file goes) stops its token before anything is created: `crtoken apply`
// exits 1 naming the spec, the token, the secret and what to do, creates no token, and keeps doing
// so on every run, until the place is freed; then it converges. The real crtoken, crtoken-emulator
// and the Kubernetes API emulator (tests/support/k8s_emulator).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "tests/support/crtoken_process.h"
#include "tests/support/emulator_process.h"
#include "tests/support/k8s_emulator/k8s_emulator_process.h"
#include "tests/support/temp_dir.h"

namespace crtoken::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr char kKubeToken[] = "kt-foreign";

std::string Base64Decode(const std::string& in) {
  static const std::string chars =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    const auto pos = chars.find(c);
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

// The parsed .dockerconfigjson of a Secret object (null when it has none).
json DockerConfig(const json& secret) {
  if (!secret.contains("data") || !secret["data"].contains(".dockerconfigjson")) return nullptr;
  return json::parse(Base64Decode(secret["data"][".dockerconfigjson"].get<std::string>()), nullptr,
                     /*allow_exceptions=*/false);
}

class ForeignSecretE2eTest : public ::testing::Test {
 protected:
  ForeignSecretE2eTest()
      : emu_({"--registry", "acme", "--token", "t"}),
        dir_("crtoken-foreign-secret"),
        k8s_(CRTOKEN_PYTHON,
             std::string(CRTOKEN_SOURCE_DIR) + "/tests/support/k8s_emulator/k8s_emulator.py",
             {"--token", kKubeToken, "--namespace", "team-a", "--kubeconfig-out",
              (dir_ / "kubeconfig").string()}) {
    fs::create_directories(dir_ / "specs");
    fs::create_directories(dir_ / "out");
  }

  void SetUp() override { ASSERT_TRUE(k8s_.started()) << k8s_.first_line(); }

  // Writes specs/tokens.yaml: each (name, secret YAML) as one document.
  void Declare(const std::vector<std::pair<std::string, std::string>>& tokens) {
    std::ofstream out(dir_ / "specs/tokens.yaml", std::ios::trunc);
    for (const auto& [name, secret] : tokens) {
      out << "---\napiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\nmetadata:\n  name: "
          << name
          << "\nspec:\n  registry: acme\n  scopes:\n    - {name: \"*\", type: repository, "
             "actions: [pull]}\n  secret:\n    "
          << secret << "\n";
    }
  }

  CommandResult Run(const std::string& command) {
    return RunCrtoken({command, "--specs", (dir_ / "specs").string(), "--api-url", emu_.base_url(),
                       "--secret-dir", (dir_ / "secrets").string(), "--kubeconfig",
                       (dir_ / "kubeconfig").string()},
                      {{"IONOS_TOKEN", "t"}}, (dir_ / "out").string());
  }

  // One request to the Kubernetes API emulator as crtoken's user; (status, body).
  std::pair<int, json> Kube(const std::string& method, const std::string& path,
                            const json& body = nullptr,
                            const std::string& content_type = "application/json") {
    return k8s_.Api(method, path, kKubeToken, body, content_type);
  }

  // A Secret that someone else made: a pull secret of their own, or any other Secret; without
  // the managed-by label unless `labelled`.
  void CreateForeignSecret(const std::string& name, bool pull_secret, bool labelled = false) {
    json secret = {{"apiVersion", "v1"},
                   {"kind", "Secret"},
                   {"metadata", {{"name", name}, {"labels", {{"team", "a"}}}}}};
    if (labelled) secret["metadata"]["labels"]["app.kubernetes.io/managed-by"] = "crtoken";
    if (pull_secret) {
      secret["type"] = "kubernetes.io/dockerconfigjson";
      secret["stringData"] = {
          {".dockerconfigjson",
           R"({"auths":{"other.example.com":{"username":"someone","password":"theirs"}}})"}};
    } else {
      secret["type"] = "Opaque";
      secret["stringData"] = {{"note", "made by hand"}};
    }
    auto [status, body] = Kube("POST", "/api/v1/namespaces/team-a/secrets", secret);
    ASSERT_EQ(status, 201) << body.dump();
  }

  size_t TokenCount() {
    const json state = emu_.StateJson();
    for (const auto& r : state["registries"]) {
      if (r["name"] == "acme") return r["tokens"].size();
    }
    return 0;
  }
  std::optional<json> Token(const std::string& name) {
    const json state = emu_.StateJson();
    for (const auto& r : state["registries"]) {
      for (const auto& t : r["tokens"]) {
        if (t["name"] == name) return t;
      }
    }
    return std::nullopt;
  }
  int Puts() {
    int n = 0;
    for (const auto& r : emu_.Requests()) n += r.method == "PUT";
    return n;
  }

  EmulatorProcess emu_;
  TempDir dir_;
  crtoken::test::K8sEmulatorProcess k8s_;
};

#define ASSERT_EXIT_CODE(result, code) \
  ASSERT_EQ((result).exit_code, code) << "stdout:\n" << (result).out << "stderr:\n" << (result).err

TEST_F(ForeignSecretE2eTest, AnUnmanagedSecretIsAProblemBeforeAnyCreateUntilLabelledOrDeleted) {
  CreateForeignSecret("pull", /*pull_secret=*/true);
  CreateForeignSecret("push", /*pull_secret=*/false);
  // Labelled, but of a type crtoken cannot write into (a Secret's type is immutable).
  CreateForeignSecret("opaque", /*pull_secret=*/false, /*labelled=*/true);
  Declare({{"puller", "kubernetes: {namespace: team-a, name: pull}"},
           {"pusher", "kubernetes: {namespace: team-a, name: push}"},
           {"viewer", "kubernetes: {namespace: team-a, name: opaque}"}});
  const std::string spec_file = (dir_ / "specs/tokens.yaml").string();

  for (int run = 0; run < 2; ++run) {
    SCOPED_TRACE("run " + std::to_string(run));
    CommandResult apply = Run("apply");
    ASSERT_EXIT_CODE(apply, 1);
    EXPECT_NE(apply.err.find(spec_file + ":5:9: token puller: secret kubernetes:team-a/pull "
                                         "cannot be written: Secret team-a/pull exists and is "
                                         "not managed by crtoken (no label "
                                         "app.kubernetes.io/managed-by=crtoken): delete or "
                                         "rename it, or label it "
                                         "app.kubernetes.io/managed-by=crtoken"),
              std::string::npos)
        << apply.err;
    EXPECT_NE(apply.err.find("token pusher: secret kubernetes:team-a/push cannot be written"),
              std::string::npos)
        << apply.err;
    EXPECT_NE(apply.err.find("token viewer: secret kubernetes:team-a/opaque cannot be written: "
                             "Secret team-a/opaque has type \"Opaque\" but crtoken writes "
                             "kubernetes.io/dockerconfigjson (a Secret's type is immutable): "
                             "delete it so crtoken can recreate it"),
              std::string::npos)
        << apply.err;
    EXPECT_EQ(TokenCount(), 0u);
    EXPECT_EQ(Puts(), 0);
  }
  ASSERT_EXIT_CODE(Run("plan"), 1);
  // The Secrets are as they were.
  auto [status, pull] = Kube("GET", "/api/v1/namespaces/team-a/secrets/pull");
  ASSERT_EQ(status, 200);
  EXPECT_FALSE(pull["metadata"]["labels"].contains("app.kubernetes.io/managed-by"));
  EXPECT_EQ(DockerConfig(pull)["auths"]["other.example.com"]["password"], "theirs");

  // Labelled for crtoken, or deleted: the next apply converges.
  ASSERT_EQ(Kube("PATCH", "/api/v1/namespaces/team-a/secrets/pull",
                 {{"metadata", {{"labels", {{"app.kubernetes.io/managed-by", "crtoken"}}}}}},
                 "application/merge-patch+json")
                .first,
            200);
  ASSERT_EQ(Kube("DELETE", "/api/v1/namespaces/team-a/secrets/push").first, 200);
  ASSERT_EQ(Kube("DELETE", "/api/v1/namespaces/team-a/secrets/opaque").first, 200);
  CommandResult apply = Run("apply");
  ASSERT_EXIT_CODE(apply, 0);
  EXPECT_EQ(TokenCount(), 3u);
  for (const auto& [token, secret] : {std::pair<std::string, std::string>{"puller", "pull"},
                                      {"pusher", "push"},
                                      {"viewer", "opaque"}}) {
    SCOPED_TRACE(token);
    auto [got, obj] = Kube("GET", "/api/v1/namespaces/team-a/secrets/" + secret);
    ASSERT_EQ(got, 200);
    EXPECT_EQ(obj["metadata"]["labels"]["app.kubernetes.io/managed-by"], "crtoken");
    const json auth = DockerConfig(obj)["auths"]["acme.cr.de-fra.ionos.com"];
    EXPECT_EQ(auth["username"], token);
    EXPECT_EQ(auth["password"], (*Token(token))["password"]);
  }
  ASSERT_EXIT_CODE(Run("plan"), 0);
}

TEST_F(ForeignSecretE2eTest, ADirectoryWhereTheSecretFileGoesIsAProblemBeforeAnyCreate) {
  fs::create_directories(dir_ / "secrets/ci.json");
  Declare({{"ci-push", "file: ci.json"}});
  for (int run = 0; run < 2; ++run) {
    SCOPED_TRACE("run " + std::to_string(run));
    CommandResult apply = Run("apply");
    ASSERT_EXIT_CODE(apply, 1);
    EXPECT_NE(apply.err.find("token ci-push: secret file:ci.json cannot be written: " +
                             (dir_ / "secrets/ci.json").string() +
                             " is a directory, not a secret file: remove it, or point "
                             "secret.file elsewhere"),
              std::string::npos)
        << apply.err;
    EXPECT_EQ(TokenCount(), 0u);
    EXPECT_EQ(Puts(), 0);
  }
  fs::remove(dir_ / "secrets/ci.json");
  ASSERT_EXIT_CODE(Run("apply"), 0);
  auto token = Token("ci-push");
  ASSERT_TRUE(token.has_value());
  json doc = json::parse(ReadFile((dir_ / "secrets/ci.json").string()));
  EXPECT_EQ(doc["auths"]["acme.cr.de-fra.ionos.com"]["password"], (*token)["password"]);
}

}  // namespace
}  // namespace crtoken::test
