// The Kubernetes API emulator (tests/support/k8s_emulator) with a KubeClient on it, for the tests
// of this folder: the client under test talks to it, and the test reads end states and the
// request log back through the emulator's own API.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "daemon/kube/kube_client.h"
#include "tests/support/k8s_emulator/k8s_emulator_process.h"
#include "tests/support/temp_dir.h"

namespace crtoken::test {

class EmulatedCluster {
 public:
  static constexpr char kToken[] = "kube-test-token-5d0b";

  // Namespaces "crtoken" and "team-a" exist besides the defaults.
  EmulatedCluster()
      : emu_(CRTOKEN_PYTHON,
             std::string(CRTOKEN_SOURCE_DIR) + "/tests/support/k8s_emulator/k8s_emulator.py",
             {"--token", kToken, "--namespace", "crtoken", "--namespace", "team-a"}) {
    if (!emu_.started()) {
      ADD_FAILURE() << "emulator did not start: " << emu_.first_line();
      return;
    }
    auto client = KubeClient::Create(Config());
    if (!client.ok()) ADD_FAILURE() << client.error().ToString();
    if (client.ok()) client_ = std::move(client.value());
  }

  // How to reach the emulator with the full-access token.
  KubernetesConfig Config() const {
    KubernetesConfig config;
    config.server = emu_.Server();
    config.ca_pem = ReadFile(emu_.CaFile());
    config.token = kToken;
    config.source = "test";
    return config;
  }
  KubeClient& client() { return *client_; }

  // One request through the test's own client; the parsed body (null when empty), `status` set.
  nlohmann::json Api(const std::string& method, const std::string& path,
                     const nlohmann::json& body = nullptr, int* status = nullptr) {
    auto r = client_->Call(method, path, body.is_null() ? "" : body.dump(), "application/json");
    EXPECT_TRUE(r.ok()) << r.error().ToString();
    if (!r.ok()) return nullptr;
    if (status != nullptr) *status = r.value().status;
    return r.value().body.empty() ? nlohmann::json()
                                  : nlohmann::json::parse(r.value().body, nullptr, false);
  }
  void AddFault(const nlohmann::json& rule) {
    int status = 0;
    nlohmann::json echoed = Api("POST", "/_emulator/faults", rule, &status);
    ASSERT_EQ(status, 201) << echoed.dump();
  }
  nlohmann::json Requests() { return Api("GET", "/_emulator/requests"); }
  void ClearRequests() { Api("DELETE", "/_emulator/requests"); }
  // Requests of `method` whose path contains `fragment`.
  int CountRequests(const std::string& method, const std::string& fragment) {
    int n = 0;
    for (const nlohmann::json& r : Requests()) {
      n +=
          r["method"] == method && r["path"].get<std::string>().find(fragment) != std::string::npos;
    }
    return n;
  }

 private:
  K8sEmulatorProcess emu_;
  std::unique_ptr<KubeClient> client_;
};

}  // namespace crtoken::test
